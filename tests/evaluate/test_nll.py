"""Importance-sampled NLL: exact on a linear-Gaussian model, a bound on real models."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import t2t_delta  # noqa: F401
from t2t_delta.evaluate import nll
from t2t_delta.models import base
from t2t_delta.models import delta_vae_image
from t2t_delta.models import vlae_image
from t2t_delta.problems import base as problems_base

from tiny_problems import ImagesOfShape

tfd = tfp.distributions


class _Vectors(problems_base.Problem):
  modality = 'vector'
  registered_name = 'test_vectors'


class LinearGaussian(base.LatentVariableModel):
  """z ~ N(0, I_d), x | z ~ N(W z + b, s^2 I_D), with the exact posterior as q."""

  data_feature = 'x'

  def __init__(self, latent_dim=2, data_dim=3, noise=0.5, seed=0):
    super().__init__(_Vectors())
    rng = np.random.RandomState(seed)
    self.w = tf.constant(rng.randn(data_dim, latent_dim), tf.float64)
    self.b = tf.constant(rng.randn(data_dim), tf.float64)
    self.noise = noise
    self.latent_dim, self.data_dim = latent_dim, data_dim

  def encode(self, features, training, seed):
    x = tf.cast(features['x'], tf.float64)
    precision = (tf.eye(self.latent_dim, dtype=tf.float64) +
                 tf.matmul(self.w, self.w, transpose_a=True) / self.noise ** 2)
    cov = tf.linalg.inv(precision)
    mean = tf.einsum('ij,bj->bi', cov, tf.einsum('dj,bd->bj', self.w, x - self.b)) / (
        self.noise ** 2)
    return tfd.MultivariateNormalTriL(mean, tf.linalg.cholesky(cov))

  def prior(self):
    return tfd.MultivariateNormalDiag(tf.zeros([self.latent_dim], tf.float64))

  def likelihood(self, features, z, training, seed):
    loc = tf.einsum('dj,bj->bd', self.w, z) + self.b
    return tfd.Independent(tfd.Normal(loc, tf.constant(self.noise, tf.float64)), 1)

  def exact_nll(self, x):
    cov = (tf.matmul(self.w, self.w, transpose_b=True) +
           self.noise ** 2 * tf.eye(self.data_dim, dtype=tf.float64))
    return -tfd.MultivariateNormalTriL(self.b, tf.linalg.cholesky(cov)).log_prob(x)


@pytest.mark.parametrize('num_samples,chunk', [(1, 1), (5, 2), (16, 16)])
def test_exact_on_a_linear_gaussian_model(num_samples, chunk):
  model = LinearGaussian()
  x = tf.constant(np.random.RandomState(1).randn(6, 3) * 2.0, tf.float64)
  sampler = nll.ImportanceSampler(model, num_samples, chunk_size=chunk)
  result = sampler({'x': x}, seed=[3, 4])
  expected = model.exact_nll(x).numpy()
  np.testing.assert_allclose(result['nll'], expected, rtol=1e-4, atol=1e-4)
  # With the exact posterior every weight is log p(x): the MC ELBO is tight too.
  np.testing.assert_allclose(result['nelbo'], expected, rtol=1e-4, atol=1e-4)


def test_importance_sampled_nll_function_plugs_any_latent_variable_model():
  model = LinearGaussian(latent_dim=3, data_dim=4, noise=0.3, seed=2)
  x = tf.constant(np.random.RandomState(5).randn(3, 4), tf.float64)
  got = nll.importance_sampled_nll(model, {'x': x}, num_samples=3, seed=(1, 1))
  np.testing.assert_allclose(got, model.exact_nll(x).numpy(), rtol=1e-4, atol=1e-4)


def _images(batch=5, seed=0):
  rng = np.random.RandomState(seed)
  return {'image': tf.constant(rng.randint(0, 256, (batch, 4, 4, 3)), tf.uint8)}


def _delta_model():
  return delta_vae_image.DeltaVaeImage(
      ImagesOfShape(), num_encoder_layers=1, num_decoder_layers=1, encoder_hidden=8,
      decoder_hidden=8, aux_hidden=8, encoder_filter=8, decoder_filter=8,
      num_encoder_attention=0, num_decoder_attention=1, num_heads=1, num_components=2,
      dropout_rate=0.0, latent_dim=2, alpha_lo=0.5, alpha_hi=0.9)


def test_bound_on_an_ar1_prior_model_per_example():
  model = _delta_model()
  features = _images()
  result = nll.ImportanceSampler(model, 12, chunk_size=6, compile=False)(
      features, seed=[1, 2])
  assert np.all(np.isfinite(result['nll']))
  # log-mean-exp >= mean: never looser than the ELBO of the same samples.
  assert np.all(result['nll'] <= result['nelbo'] + 1e-6)
  # ... and below the model's own -ELBO (exact KL, one sample) on every example.
  out = model(features, training=False, seed=tf.constant([0, 0]))
  nelbo = (out['distortion'] + out['rate']).numpy()
  assert np.all(result['nll'] <= nelbo)
  # The AR(1) prior enters through prior().log_prob: K = 1 gives the MC -ELBO,
  # whose mean over samples matches D + R within noise.
  single = nll.ImportanceSampler(model, 1, compile=False)(features, seed=[1, 2])
  np.testing.assert_allclose(single['nll'], single['nelbo'], rtol=1e-6)


def test_aux_prior_option():
  model = _delta_model()
  result = nll.ImportanceSampler(model, 4, prior='aux', compile=False)(
      _images(3), seed=[0, 1])
  assert np.all(np.isfinite(result['nll']))
  with pytest.raises(ValueError, match='no auxiliary prior'):
    nll.ImportanceSampler(LinearGaussian(), 2, prior='aux')


def test_flow_posterior_and_prior():
  model = vlae_image.VlaeImage(
      ImagesOfShape(), latent_dim=3, num_encoder_layers=1, encoder_hidden=4, context_size=8,
      num_decoder_layers=1, decoder_hidden=8, decoder_filter=8, num_components=2,
      prior_hidden=(8,), posterior='iaf', num_iaf_steps=2, iaf_hidden=(8,))
  result = nll.ImportanceSampler(model, 6, chunk_size=6, compile=False)(
      _images(), seed=[5, 6])
  assert np.all(np.isfinite(result['nll']))
  assert np.all(result['nll'] <= result['nelbo'] + 1e-6)


def test_rejects_models_without_latents():
  from t2t_delta.models import ar_image  # pylint: disable=g-import-not-at-top
  model = ar_image.ArImage(ImagesOfShape(), num_decoder_layers=1, decoder_hidden=4,
                           decoder_filter=4, num_decoder_attention=0, num_heads=1,
                           num_components=1)
  with pytest.raises(ValueError, match='exact NLL'):
    nll.ImportanceSampler(model, 4)


def test_text_importance_weights_use_the_real_prefix_only():
  """Padded latent steps must not enter the weights: IS-NLL <= -ELBO per sentence."""
  from t2t_delta import registry  # pylint: disable=g-import-not-at-top
  registry.list_models()
  problem = registry.problem('tiny_text')()
  model = registry.model('delta_vae_text')(
      problem, num_layers=1, hidden_size=16, filter_size=16, num_heads=2,
      dropout_rate=0.0, aux_hidden=8)
  arrays = problem.arrays('test')
  batch = {k: tf.constant(v[:6]) for k, v in arrays.items()}
  # The model's -ELBO (analytic rate of the real prefix), averaged over z samples.
  nelbo = np.mean([(lambda o: (o['distortion'] + o['rate']).numpy())(
      model(batch, training=False, seed=tf.constant([i, 1]))) for i in range(32)], axis=0)
  result = nll.ImportanceSampler(model, 64, chunk_size=16, compile=False)(
      batch, tf.constant([0, 0]))
  result = {k: np.asarray(v) for k, v in result.items()}
  # The same samples' Monte Carlo -ELBO matches it: padded steps add nothing.
  np.testing.assert_allclose(result['nelbo'], nelbo, rtol=0.05)
  assert np.all(np.asarray(result['nll']) <= np.asarray(result['nelbo']) + 1e-4)
