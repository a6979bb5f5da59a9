"""LatentSpec: one set of checks, and the prior, posterior, KL and continuation it
builds, against closed forms, dense references and sampling."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from _dist_reference import dense_ar1
from t2t_delta.distributions import ar1
from t2t_delta.distributions import independent_delta
from t2t_delta.distributions import latent_spec
from t2t_delta.errors import UserError

tfd = tfp.distributions

N, D = 6, 3


def _spec(**kwargs):
  args = dict(model_name='delta_vae_test', num_steps=N, latent_dim=D, alpha_lo=0.5,
              alpha_hi=0.9)
  args.update(kwargs)
  return latent_spec.LatentSpec(**args)


def _posterior_params(rng, batch=4):
  loc = rng.normal(size=(batch, N, D)).astype(np.float32)
  scale = rng.uniform(0.2, 1.5, size=(batch, N, D)).astype(np.float32)
  return tf.constant(loc), tf.constant(scale)


def _prefix_mask(lengths):
  return tf.constant(np.arange(N)[None] < np.array(lengths)[:, None], tf.float32)


# ---- configuration -------------------------------------------------------------------
@pytest.mark.parametrize('kwargs,pattern', [
    (dict(prior_type='laplace'),
     r"delta_vae_test\.prior_type='laplace' .*valid: ar1, standard_normal"),
    (dict(posterior_type='iaf'),
     r"delta_vae_test\.posterior_type='iaf' .*valid: mean_field, independent_delta"),
    (dict(posterior_scale='relu'),
     r"delta_vae_test\.posterior_scale='relu' .*valid: exp, softplus"),
    (dict(posterior_init='large'),
     r"delta_vae_test\.posterior_init='large' .*valid: small, informative"),
    (dict(latent_dim=0), r'delta_vae_test\.latent_dim must be >= 1, got 0'),
    (dict(posterior_type='independent_delta', committed_rate_bits=5.),
     r"posterior_type='independent_delta' needs prior_type='standard_normal' and "
     r"committed_rate_bits.*got prior_type='ar1'"),
    (dict(prior_type='standard_normal', posterior_type='independent_delta'),
     r'committed_rate_bits=None\. Set both'),
    (dict(prior_type='standard_normal', committed_rate_bits=5.),
     r"committed_rate_bits=5\.0 needs prior_type='ar1' or "
     r"posterior_type='independent_delta'"),
    (dict(alpha_lo=0.9, alpha_hi=0.5),
     r'needs 0 <= alpha_lo <= alpha_hi < 1; got alpha_lo=0\.9, alpha_hi=0\.5'),
    (dict(alpha_hi=1.0), r'alpha_hi=1\.0'),
    (dict(alpha_lo=None), r'alpha_lo=None'),
    (dict(committed_rate_bits=1e6), r'not reachable'),
])
def test_invalid_settings_raise_one_line_user_errors(kwargs, pattern):
  with pytest.raises(UserError, match=pattern) as error:
    _spec(**kwargs)
  assert '\n' not in str(error.value)


def test_alphas_and_committed_rate_of_each_prior():
  spec = _spec()
  np.testing.assert_allclose(spec.alphas_np, [0.5, 0.7, 0.9])
  assert spec.alphas.dtype == tf.float32
  assert spec.committed_rate_nats() == pytest.approx(
      ar1.committed_rate_np([0.5, 0.7, 0.9], N))
  assert spec.committed_rate_nats(3) == pytest.approx(
      ar1.committed_rate_np([0.5, 0.7, 0.9], 3))
  assert spec.delta_per_dim is None

  solved = _spec(committed_rate_bits=10., alpha_lo=None)
  assert solved.committed_rate_nats() == pytest.approx(10. * math.log(2.), rel=1e-9)
  assert np.ptp(solved.alphas_np) == 0.

  plain = _spec(prior_type='standard_normal')
  np.testing.assert_array_equal(plain.alphas_np, np.zeros(D))
  assert plain.committed_rate_nats() == 0.

  delta = _spec(prior_type='standard_normal', posterior_type='independent_delta',
                committed_rate_bits=12.)
  np.testing.assert_array_equal(delta.alphas_np, np.zeros(D))
  assert delta.delta_per_dim == pytest.approx(12. * math.log(2.) / (N * D))
  assert delta.committed_rate_nats() == pytest.approx(12. * math.log(2.))
  assert delta.committed_rate_nats(2) == pytest.approx(12. * math.log(2.) * 2 / N)


def test_alphas_np_is_a_copy():
  spec = _spec()
  spec.alphas_np[:] = 0.
  np.testing.assert_allclose(spec.alphas_np, [0.5, 0.7, 0.9])


# ---- posterior -----------------------------------------------------------------------
@pytest.mark.parametrize('scale_fn,expected', [
    ('exp', np.exp),
    ('softplus', lambda r: np.log1p(np.exp(r)) + latent_spec.SOFTPLUS_SCALE_FLOOR)])
def test_posterior_scale_functions_and_their_inverse(rng, scale_fn, expected):
  spec = _spec(posterior_scale=scale_fn)
  raw = rng.normal(0., 2., size=(5, N, 2 * D)).astype(np.float32)
  loc, scale = spec.posterior_params(raw)
  np.testing.assert_array_equal(loc, raw[..., :D])
  np.testing.assert_allclose(scale, expected(raw[..., D:].astype(np.float64)),
                             rtol=1e-5)
  target = np.array([1e-3, 0.3, 1., 4.])
  _, back = spec.posterior_params(
      np.concatenate([np.zeros(4), spec.raw_scale_np(target)]).astype(np.float32))
  np.testing.assert_allclose(back, target, rtol=1e-4)


def test_independent_delta_posterior_keeps_every_units_bound(rng):
  spec = _spec(prior_type='standard_normal', posterior_type='independent_delta',
               committed_rate_bits=12.)
  raw = rng.uniform(-30., 30., size=(50, N, 2 * D)).astype(np.float32)
  loc, scale = spec.posterior_params(raw)
  per_unit = independent_delta.standard_normal_kl(loc, scale).numpy()
  assert per_unit.min() >= spec.delta_per_dim * (1. - 1e-4)
  total = tf.reduce_sum(spec.kl_per_dim(loc, scale), -1).numpy()
  assert np.all(total >= spec.committed_rate_nats() * (1. - 1e-4))


class _Head:

  def __init__(self, rng, hidden=5):
    self.kernel = tf.Variable(rng.normal(size=(hidden, 2 * D)), dtype=tf.float32)
    self.bias = tf.Variable(rng.normal(size=(2 * D,)), dtype=tf.float32)


@pytest.mark.parametrize('scale_fn', latent_spec.POSTERIOR_SCALES)
@pytest.mark.parametrize('prior_type', latent_spec.PRIOR_TYPES)
def test_informative_init_starts_at_the_optimal_constant_scale(rng, scale_fn,
                                                               prior_type):
  spec = _spec(posterior_scale=scale_fn, posterior_init='informative',
               prior_type=prior_type)
  head = _Head(rng)
  kernel = head.kernel.numpy()
  spec.initialize_posterior_head(head)
  np.testing.assert_allclose(head.kernel[:, :D], 10. * kernel[:, :D], rtol=1e-6)
  np.testing.assert_array_equal(head.kernel[:, D:], kernel[:, D:])
  _, scale = spec.posterior_params(head.bias)         # the output for h = 0
  np.testing.assert_allclose(scale, ar1.optimal_constant_scale_np(spec.alphas_np),
                             rtol=1e-5)


@pytest.mark.parametrize('kwargs', [
    dict(posterior_init='small'),
    dict(posterior_init='informative', prior_type='standard_normal',
         posterior_type='independent_delta', committed_rate_bits=12.)])
def test_other_inits_leave_the_head_as_built(rng, kwargs):
  head = _Head(rng)
  kernel, bias = head.kernel.numpy(), head.bias.numpy()
  _spec(**kwargs).initialize_posterior_head(head)
  np.testing.assert_array_equal(head.kernel, kernel)
  np.testing.assert_array_equal(head.bias, bias)


def test_reparameterized_sample_is_stateless_and_has_the_posterior_moments():
  loc, scale = tf.fill([20000, 1], 1.5), tf.fill([20000, 1], 0.5)
  seed = tf.constant([4, 5])
  z = latent_spec.LatentSpec.reparameterized_sample(loc, scale, seed).numpy()
  np.testing.assert_array_equal(
      z, latent_spec.LatentSpec.reparameterized_sample(loc, scale, seed).numpy())
  assert abs(z.mean() - 1.5) < 0.02 and abs(z.std() - 0.5) < 0.01


# ---- KL ------------------------------------------------------------------------------
@pytest.mark.parametrize('prior_type', latent_spec.PRIOR_TYPES)
def test_kl_matches_the_dense_gaussian_kl(rng, prior_type):
  """Unmasked KL per dimension = KL of the dense [n] Gaussians (float64 reference)."""
  spec = _spec(prior_type=prior_type)
  loc, scale = _posterior_params(rng, batch=2)
  got = spec.kl_per_dim(loc, scale).numpy()
  for k, alpha in enumerate(spec.alphas_np):
    q = tfd.MultivariateNormalDiag(tf.cast(loc[:, :, k], tf.float64),
                                   tf.cast(scale[:, :, k], tf.float64))
    want = tfd.kl_divergence(q, dense_ar1(alpha, N)).numpy()
    np.testing.assert_allclose(got[:, k], want, rtol=2e-5)


@pytest.mark.parametrize('prior_type', latent_spec.PRIOR_TYPES)
def test_masked_kl_is_the_kl_of_the_posterior_it_builds(rng, prior_type):
  """Masked KL = closed form of KL(posterior(mask) || prior) = Monte Carlo estimate
  of E_q[log q(z) - log p(z)] over the whole window."""
  spec = _spec(prior_type=prior_type)
  loc, scale = _posterior_params(rng, batch=3)
  mask = _prefix_mask([N, 3, 1])
  kl = tf.reduce_sum(spec.kl_per_dim(loc, scale, mask), -1).numpy()
  q, p = spec.posterior(loc, scale, mask), spec.prior()
  np.testing.assert_allclose(kl, tfd.kl_divergence(q, p).numpy(), rtol=1e-5)
  for b, length in enumerate((N, 3, 1)):
    prefix = spec.kl_per_dim(loc[b:b + 1, :length], scale[b:b + 1, :length])
    np.testing.assert_allclose(kl[b], tf.reduce_sum(prefix).numpy(), rtol=1e-5)
  z = q.sample(40000, seed=tf.constant([6, 7]))
  monte_carlo = tf.reduce_mean(q.log_prob(z) - p.log_prob(z), axis=0).numpy()
  np.testing.assert_allclose(monte_carlo, kl, rtol=0.03, atol=0.03)


@pytest.mark.parametrize('prior_type', latent_spec.PRIOR_TYPES)
def test_masked_kl_ignores_padded_steps(rng, prior_type):
  spec = _spec(prior_type=prior_type)
  loc, scale = _posterior_params(rng, batch=2)
  mask = _prefix_mask([4, 2])
  with tf.GradientTape() as tape:
    tape.watch([loc, scale])
    kl = tf.reduce_sum(spec.kl_per_dim(loc, scale, mask))
  grad_loc, grad_scale = tape.gradient(kl, [loc, scale])
  padded = mask.numpy() == 0
  for grad in (grad_loc.numpy(), grad_scale.numpy()):
    np.testing.assert_array_equal(grad[padded], 0.)
    assert np.all(np.abs(grad[~padded]).sum(-1) > 0.)
  # Anything at the padded steps, however extreme, leaves the KL unchanged.
  pad = (1. - mask)[..., None]
  changed = spec.kl_per_dim(loc + 50. * pad, scale * (1. + 100. * pad), mask)
  np.testing.assert_array_equal(changed.numpy(),
                                spec.kl_per_dim(loc, scale, mask).numpy())


# ---- prior and continuation ----------------------------------------------------------
def test_standard_normal_prior_is_n01():
  prior = _spec(prior_type='standard_normal').prior()
  assert prior.event_shape == [N, D]
  z = tf.random.stateless_normal([5, N, D], seed=[1, 1])
  want = tfd.Independent(tfd.Normal(tf.zeros([N, D]), 1.), 2).log_prob(z)
  np.testing.assert_allclose(prior.log_prob(z), want, rtol=1e-6)


@pytest.mark.parametrize('alphas,length', [((0.3, 0.9), 2), ((0.6, 0.8), 4)])
def test_continuation_has_the_ar1_conditional_moments(alphas, length):
  """Given z_<L, step L + k of the continuation has mean α^(k+1) z_(L-1) and
  variance 1 - α^(2(k+1)), and each step regresses on the previous one with slope α.
  The tolerance separates α from α ± 0.05."""
  spec = latent_spec.LatentSpec('delta_vae_test', num_steps=N, latent_dim=2,
                                alpha_lo=alphas[0], alpha_hi=alphas[1])
  a = np.array(alphas)
  samples = 40000
  last = np.array([2.0, -1.5], np.float32)
  prefix = np.zeros([samples, N, 2], np.float32)
  prefix[:, length - 1] = last
  prefix[:, :length - 1] = 7.
  mask = np.tile((np.arange(N) < length).astype(np.float32), [samples, 1])
  z = spec.sample_continuation(prefix, mask, tf.constant([3, 1])).numpy()
  np.testing.assert_array_equal(z[:, :length], prefix[:, :length])
  for k, t in enumerate(range(length, N)):
    np.testing.assert_allclose(z[:, t].mean(0), a ** (k + 1) * last, atol=0.02)
    np.testing.assert_allclose(z[:, t].var(0), 1. - a ** (2 * (k + 1)), rtol=0.04)
    previous = z[:, t - 1]
    slope = (np.mean((z[:, t] - z[:, t].mean(0)) * (previous - previous.mean(0)), 0)
             / np.maximum(previous.var(0), 1e-12))
    if k > 0:
      np.testing.assert_allclose(slope, a, atol=0.02)
  wrong = latent_spec.LatentSpec('delta_vae_test', num_steps=N, latent_dim=2,
                                 alpha_lo=alphas[0] - 0.05, alpha_hi=alphas[1] - 0.05)
  z_wrong = wrong.sample_continuation(prefix, mask, tf.constant([3, 1])).numpy()
  assert np.any(np.abs(z_wrong[:, length].mean(0) - a * last) > 0.02)
