"""delta_vae_image and ar_image: shapes, rates, causality by gradients, XLA, gin files."""

import math
import os

import gin
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import t2t_delta  # noqa: F401  (registers every model)
from t2t_delta import distributions
from t2t_delta import registry
from t2t_delta.errors import UserError
from t2t_delta.models import ar_image
from t2t_delta.models import delta_vae_image
from t2t_delta.problems import base as problems_base
from t2t_delta.runtime import gin_config

from model_checks import ImagesOfShape as _Images
from model_checks import check_output as _check_output
from model_checks import image_features as _features
from model_checks import loss_and_grads as _loss_and_grads

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TINY = dict(num_encoder_layers=1, num_decoder_layers=2, encoder_hidden=8,
            decoder_hidden=8, aux_hidden=8, encoder_filter=16, decoder_filter=16,
            num_encoder_attention=1, num_decoder_attention=1, num_heads=2,
            num_components=3, dropout_rate=0.1, latent_dim=3, alpha_lo=0.5,
            alpha_hi=0.9)


class _Text(problems_base.TextProblem):
  registered_name = 'test_text'


def _model(shape=(6, 6, 3), **kwargs):
  args = dict(TINY)
  args.update(kwargs)
  return delta_vae_image.DeltaVaeImage(_Images(shape), **args)


@pytest.mark.parametrize('shape,structure', [((6, 6, 3), 'anti_causal'),
                                             ((5, 7, 1), 'anti_causal'),
                                             ((4, 6, 3), 'non_causal')])
def test_builds_and_runs(shape, structure):
  model = _model(shape, encoder_structure=structure)
  features = _features(shape)
  out, loss, grads = _loss_and_grads(model, features, tf.constant([1, 2]))
  _check_output(model, out, 2)
  assert model.committed_rate() > 0.
  assert all(g is not None for g in grads)
  assert all(np.all(np.isfinite(g.numpy())) for g in grads)
  # The auxiliary prior learns only from aux_loss, the decoder only from distortion.
  eval_out = model(features, training=False, seed=tf.constant([0, 0]))
  _check_output(model, eval_out, 2)
  assert model.posterior_mean(features).shape == [2, shape[0], model.latent_dim]
  q = model.encode(features, training=False, seed=tf.constant([0, 0]))
  assert q.event_shape == [shape[0], model.latent_dim]
  kl = tfp_kl(q, model.prior())
  np.testing.assert_allclose(kl, eval_out['rate'], rtol=1e-5)
  likelihood = model.likelihood(features, q.mean(), training=False, seed=None)
  assert likelihood.event_shape == shape


def tfp_kl(q, p):
  return tfp.distributions.kl_divergence(q, p).numpy()


def test_runs_under_xla():
  # XLA compilation dominates this test's time on CPU, so the model is minimal
  # (the decoder still has self- and cross-attention and dropout; the auxiliary
  # prior is included).
  model = _model((4, 5, 3), num_decoder_layers=1, num_encoder_attention=0)
  features = _features((4, 5, 3))

  @tf.function(jit_compile=True)
  def step(features, seed):
    out, loss, grads = _loss_and_grads(model, features, seed)
    return out, loss, grads

  out, loss, grads = step(features, tf.constant([3, 4]))
  _check_output(model, out, 2)
  assert np.isfinite(loss.numpy())
  assert all(np.all(np.isfinite(g.numpy())) for g in grads)
  eager_out = model(features, training=True, seed=tf.constant([3, 4]))
  np.testing.assert_allclose(out['rate'], eager_out['rate'], rtol=1e-4)


def _batched_jacobian(fn, x, num_rows):
  tiled = tf.tile(x, [num_rows] + [1] * (x.shape.rank - 1))
  with tf.GradientTape() as tape:
    tape.watch(tiled)
    picked = tf.reduce_sum(fn(tiled) * tf.eye(num_rows))
  return np.abs(tape.gradient(picked, tiled).numpy())


def _random_float_image(shape, seed=0):
  return tf.random.stateless_uniform((1,) + tuple(shape), [seed, 5], -1., 1.)


def _encoder_row_dependence(model, shape):
  """[t, row] True where latent row t (mean or scale) depends on image row `row`."""
  h = shape[0]
  weights = tf.random.stateless_normal([2 * model.latent_dim], [1, 1])

  def fn(x):
    loc, scale = model.posterior_params(x)
    return tf.reduce_sum(tf.concat([loc, tf.math.log(scale)], -1) * weights, -1)

  jac = _batched_jacobian(fn, _random_float_image(shape), h)   # [t, H, W, C]
  return jac.sum(axis=(2, 3)) > 0


def test_anti_causal_encoder_latent_of_row_t_sees_rows_at_or_after_t():
  shape = (5, 4, 3)
  model = _model(shape)
  visible = _encoder_row_dependence(model, shape)
  rows, latents = np.meshgrid(np.arange(5), np.arange(5), indexing='xy')
  np.testing.assert_array_equal(visible, rows >= latents)


def test_anti_causal_encoder_features_see_self_and_later_pixels():
  shape = (4, 3, 3)
  model = _model(shape)
  n = shape[0] * shape[1]
  weights = tf.random.stateless_normal([TINY['encoder_hidden']], [2, 2])

  def fn(x):
    feats = model.encoder.features(x)
    return tf.reshape(tf.reduce_sum(feats * weights, -1), [n, n])

  jac = _batched_jacobian(fn, _random_float_image(shape), n).reshape(n, n, -1).sum(-1)
  for p in range(n):
    assert np.all(jac[p, :p] == 0.), f'pixel {p} sees an earlier pixel'
    assert np.all(jac[p, p:] > 0.), f'pixel {p} misses itself or a later pixel'


def test_non_causal_encoder_latents_see_all_rows():
  shape = (4, 5, 1)
  model = _model(shape, encoder_structure='non_causal')
  assert np.all(_encoder_row_dependence(model, shape))


@pytest.mark.parametrize('structure,in_blocks', [('anti_causal', False),
                                               ('non_causal', False),
                                               ('anti_causal', True)])
def test_decoder_is_causal_for_fixed_z(structure, in_blocks):
  """Pixels see earlier pixels only; latent row t reaches pixel rows >= t
  (anti-causal encoder), also when z enters the gated blocks row by row."""
  shape = (4, 3, 3)
  model = _model(shape, encoder_structure=structure, latent_in_blocks=in_blocks)
  n = shape[0] * shape[1]
  z = tf.random.stateless_normal([n, shape[0], model.latent_dim], [3, 3])
  weights = tf.random.stateless_normal(
      [distributions.dmol_num_params(3, TINY['num_components'])], [4, 4])

  def fn(x):
    out = model.decoder_output(x, z, training=True, seed=tf.constant([5, 6]))
    return tf.reshape(tf.reduce_sum(out * weights, -1), [n, n])

  jac = _batched_jacobian(fn, _random_float_image(shape), n).reshape(n, n, -1).sum(-1)
  for p in range(n):
    assert np.all(jac[p, p:] == 0.), f'pixel {p} depends on pixels >= itself'
    if p:
      assert np.any(jac[p, :p] > 0.)

  # Latent rows reach a pixel of row r only if t <= r (anti-causal) or always.
  x = tf.tile(_random_float_image(shape), [shape[0], 1, 1, 1])
  jac = _batched_jacobian(
      lambda zz: tf.reduce_sum(model.decoder_output(x, zz) * weights, axis=[2, 3]),
      z[:1], shape[0]).sum(-1) > 0                     # [pixel row, latent row]
  rows, latents = np.meshgrid(np.arange(4), np.arange(4), indexing='ij')
  expect = latents <= rows if structure == 'anti_causal' else np.ones_like(jac)
  np.testing.assert_array_equal(jac, expect)


def test_committed_rate_matches_the_prior():
  model = _model((6, 6, 3))
  expect = distributions.committed_rate_np(
      distributions.linear_alphas_np(0.5, 0.9, 3), 6)
  assert model.committed_rate() == pytest.approx(expect)
  model = _model((6, 6, 3), committed_rate_bits=10.)
  assert model.committed_rate() == pytest.approx(10. * math.log(2.), rel=1e-6)
  assert model.alphas.numpy()[0] == pytest.approx(0.5)
  model = _model((6, 6, 3), committed_rate_bits=10., alpha_lo=None)
  assert np.ptp(model.alphas.numpy()) == 0.


def test_standard_normal_prior_commits_nothing():
  model = _model((4, 4, 1), prior_type='standard_normal')
  assert model.committed_rate() == 0.
  np.testing.assert_array_equal(model.alphas, np.zeros(3))
  out = model(_features((4, 4, 1)), training=True, seed=tf.constant([1, 1]))
  _check_output(model, out, 2)


def test_independent_delta_posterior_keeps_its_rate():
  model = _model((4, 4, 3), prior_type='standard_normal',
                 posterior_type='independent_delta', committed_rate_bits=20.)
  assert model.committed_rate() == pytest.approx(20. * math.log(2.))
  out, _, grads = _loss_and_grads(model, _features((4, 4, 3)), tf.constant([1, 3]))
  _check_output(model, out, 2)
  assert all(np.all(np.isfinite(g.numpy())) for g in grads)


@pytest.mark.parametrize('kwargs', [
    dict(encoder_structure='causal'),
    dict(prior_type='laplace'),
    dict(posterior_type='iaf'),
    dict(posterior_type='independent_delta', committed_rate_bits=5.),
    dict(prior_type='standard_normal', posterior_type='independent_delta'),
    dict(prior_type='standard_normal', committed_rate_bits=5.),
    dict(alpha_lo=0.9, alpha_hi=0.5),
    dict(committed_rate_bits=1e6),
])
def test_bad_configurations_raise_user_errors(kwargs):
  with pytest.raises(UserError):
    _model((4, 4, 3), **kwargs)


def test_text_problems_and_odd_channels_are_rejected():
  with pytest.raises(UserError):
    delta_vae_image.DeltaVaeImage(_Text(), **TINY)
  with pytest.raises(UserError):
    _model((4, 4, 2))
  with pytest.raises(UserError):
    ar_image.ArImage(_Images((4, 4, 4)))


def test_registered_names():
  assert registry.model('delta_vae_image') is delta_vae_image.DeltaVaeImage
  assert registry.model('ar_image') is ar_image.ArImage


IMAGE_GIN_FILES = ['image_tiny.gin', 'cifar10_ablation.gin', 'cifar10_best.gin',
                   'imagenet32_best.gin']


@pytest.mark.parametrize('name', IMAGE_GIN_FILES)
def test_gin_files_parse(name):
  path = os.path.join(REPO, 'gin', name)
  gin.clear_config()
  try:
    gin_config.parse_gin([path])
    bound = gin.query_parameter('delta_vae_image.latent_dim')
    assert bound >= 1
  finally:
    gin.clear_config()


def test_image_tiny_gin_trains_a_step_on_16x16x3():
  gin.clear_config()
  try:
    gin_config.parse_gin([os.path.join(REPO, 'gin', 'image_tiny.gin')])
    model = registry.model('delta_vae_image')(_Images((16, 16, 3)))
  finally:
    gin.clear_config()
  out, _, grads = _loss_and_grads(model, _features((16, 16, 3), batch=4),
                                  tf.constant([1, 1]))
  _check_output(model, out, 4)
  assert all(np.all(np.isfinite(g.numpy())) for g in grads)


def test_posterior_scale_is_exp_by_default():
  """The image model's scale function (the text model's is softplus + 1e-4); a zero
  head bias and kernel give exp(0) = 1 at every row."""
  model = _model((4, 4, 3))
  assert model.latent.posterior_scale == 'exp'
  for variable in model.encoder.to_params.trainable_variables:
    variable.assign(tf.zeros_like(variable))
  x = model.network_inputs(_features((4, 4, 3)))
  _, scale = model.posterior_params(x)
  np.testing.assert_array_equal(scale, np.ones([2, 4, 3]))
  softplus = _model((4, 4, 3), posterior_scale='softplus')
  for variable in softplus.encoder.to_params.trainable_variables:
    variable.assign(tf.zeros_like(variable))
  _, scale = softplus.posterior_params(x)
  np.testing.assert_allclose(scale, np.log(2.) + 1e-4, rtol=1e-6)
