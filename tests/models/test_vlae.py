"""vlae_image, MADE and the autoregressive flows: structure, densities, training."""

import numpy as np
import pytest
import tensorflow as tf

import t2t_delta  # noqa: F401
from t2t_delta.distributions import flows
from t2t_delta.errors import UserError
from t2t_delta.layers import made
from t2t_delta.models import vlae_image
from t2t_delta.problems import base as problems_base

TINY = dict(latent_dim=3, num_encoder_layers=2, encoder_hidden=4, context_size=8,
            num_decoder_layers=2, decoder_hidden=8, decoder_filter=8, num_components=2,
            prior_hidden=(8,), iaf_hidden=(8,))


class _Images(problems_base.ImageProblem):
  registered_name = 'test_images'
  image_shape = (4, 4, 3)


def _images(batch=3, seed=0):
  rng = np.random.RandomState(seed)
  return {'image': tf.constant(rng.randint(0, 256, (batch, 4, 4, 3)), tf.uint8)}


def _jacobian_support(fn, d):
  x = tf.random.stateless_normal([1, d], [0, 1])
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = fn(x)
  jac = tape.batch_jacobian(y, x).numpy()[0]        # [d, P, d] or [d, d]
  return np.abs(jac).reshape(d, -1, d).max(axis=1) > 0


@pytest.mark.parametrize('ordering', ['left_to_right', 'right_to_left', [2, 0, 3, 1]])
def test_made_is_autoregressive_in_its_ordering(ordering):
  d = 4
  net = made.MADE(d, (16, 16), 2, ordering=ordering, output_init_scale=1.0)
  support = _jacobian_support(net, d)
  degrees = made.ordering_degrees(d, ordering)
  allowed = degrees[None, :] < degrees[:, None]     # output i may see input j
  assert not np.any(support & ~allowed)
  # The masks are not over-restrictive: the last output sees every earlier input.
  last = int(np.argmax(degrees))
  assert np.all(support[last][allowed[last]])


def test_made_context_reaches_every_output():
  net = made.MADE(3, (8,), 2, context_size=5, output_init_scale=1.0)
  context = tf.random.normal([2, 5])
  with tf.GradientTape() as tape:
    tape.watch(context)
    first = net(tf.zeros([2, 3]), context)[:, 0]
  assert np.all(np.abs(tape.gradient(first, context).numpy()) > 0)
  with pytest.raises(ValueError, match='context'):
    net(tf.zeros([2, 3]))


def test_flow_prior_density_matches_tfp_and_normalises_per_dim():
  prior = flows.AutoregressiveFlowPrior(2, num_steps=2, hidden_sizes=(8,))
  for step in prior.steps:                         # a non-trivial flow
    step.output_layer.kernel.assign(step.output_layer.kernel * 100.)
  z = tf.random.stateless_normal([5, 2], [1, 2])
  per_dim = prior.log_prob_per_dim(z)
  np.testing.assert_allclose(tf.reduce_sum(per_dim, -1), prior.distribution().log_prob(z),
                             rtol=1e-5, atol=1e-5)
  # Integrates to one (grid quadrature over a wide box).
  grid = np.linspace(-9, 9, 301)
  xx, yy = np.meshgrid(grid, grid)
  points = tf.constant(np.stack([xx.ravel(), yy.ravel()], -1), tf.float32)
  mass = np.exp(prior.log_prob(points).numpy()).sum() * (grid[1] - grid[0]) ** 2
  assert mass == pytest.approx(1.0, abs=0.02)
  samples = prior.sample(4, seed=tf.constant([3, 4]))
  assert samples.shape == (4, 2) and np.all(np.isfinite(samples))


def test_iaf_posterior_log_prob_matches_the_sampling_path():
  iaf = flows.InverseAutoregressiveFlow(3, num_steps=2, context_size=4,
                                        hidden_sizes=(8,))
  for step in iaf.steps:
    step.output_layer.kernel.assign(step.output_layer.kernel * 100.)
  loc, scale = tf.constant([[0.5, -1., 0.]]), tf.constant([[1., 0.5, 2.]])
  context = tf.random.normal([1, 4])
  z0 = loc + scale * tf.random.stateless_normal([1, 3], [5, 6])
  z, log_det = iaf.transform(z0, context)
  log_q = (tf.reduce_sum(flows.tfd.Normal(loc, scale).log_prob(z0), -1)
           - tf.reduce_sum(log_det, -1))
  q = iaf.distribution(loc, scale, context)
  fresh = tf.constant(z.numpy())                    # no bijector cache: inverts the flow
  np.testing.assert_allclose(q.log_prob(fresh), log_q, rtol=1e-4, atol=1e-4)


def test_vlae_outputs_and_rate_decomposition():
  for posterior in ('gaussian', 'iaf'):
    model = vlae_image.VlaeImage(_Images(), posterior=posterior, **TINY)
    out = model(_images(), training=True, seed=tf.constant([1, 2]))
    assert out['distortion'].shape == out['rate'].shape == (3,)
    assert out['rate_per_group'].shape == (3, 3)
    np.testing.assert_allclose(tf.reduce_sum(out['rate_per_group'], -1), out['rate'],
                               rtol=1e-5, atol=1e-5)
    assert model.posterior_mean(_images()).shape == (3, 3)
    assert model.committed_rate() is None


def test_vlae_single_sample_rate_is_unbiased_for_the_kl():
  """Gaussian posterior + standard normal prior: the sample estimate is not used,
  the AF prior with zero flow equals N(0, I): both rates agree on average."""
  exact = vlae_image.VlaeImage(_Images(), prior='standard_normal', **TINY)
  sampled = vlae_image.VlaeImage(_Images(), prior='af', num_prior_steps=0, **TINY)
  repeats = 2000
  features = {'image': tf.tile(_images(2)['image'], [repeats, 1, 1, 1])}
  kl = exact(features, training=False, seed=tf.constant([0, 0]))['rate'].numpy()
  estimates = sampled(features, training=False, seed=tf.constant([1, 1]))['rate']
  estimates = estimates.numpy().reshape(repeats, 2).mean(axis=0)
  np.testing.assert_allclose(estimates, kl[:2], atol=0.1)


def test_vlae_decoder_is_causal_and_local():
  model = vlae_image.VlaeImage(_Images(), **dict(TINY, num_decoder_layers=1))
  x = tf.random.uniform([1, 4, 4, 3], -1, 1)
  z = tf.zeros([1, 3])
  with tf.GradientTape() as tape:
    tape.watch(x)
    out = tf.reduce_sum(model.decoder(x, z)[0, 2, 2])
  grad = np.abs(tape.gradient(out, x).numpy()[0]).sum(-1)
  assert grad[2, 2] == 0 and grad[2, 3] == 0 and grad[3].sum() == 0   # causal
  assert grad[2, 1] > 0                                                   # sees left


def test_bad_choices_are_user_errors():
  with pytest.raises(UserError, match='posterior'):
    vlae_image.VlaeImage(_Images(), posterior='nope', **TINY)
  with pytest.raises(UserError, match='num_iaf_steps'):
    vlae_image.VlaeImage(_Images(), posterior='iaf', num_iaf_steps=0,
                         **{k: v for k, v in TINY.items()})
