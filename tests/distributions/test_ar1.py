"""AR1Prior and its closed-form KL against dense Gaussian references; the committed
rate equals the minimum KL, and the rate solver inverts it."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from _dist_reference import adam, dense_ar1
from t2t_delta.distributions import ar1
from t2t_delta.errors import UserError

tfd = tfp.distributions


def test_cholesky_reference_has_ar1_covariance():
  alpha, n = 0.7, 6
  cov = dense_ar1(alpha, n).covariance().numpy()
  lags = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
  np.testing.assert_allclose(cov, alpha ** lags, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('dtype', [np.float64, np.float32])
def test_log_prob_matches_dense_mvn(rng, dtype):
  alphas = np.array([0., 0.3, 0.9, 0.99])
  n = 16
  z = rng.standard_normal([5, n, alphas.size])
  prior = ar1.AR1Prior(alphas.astype(dtype), n)
  got = prior.log_prob(z.astype(dtype)).numpy()
  want = sum(dense_ar1(a, n).log_prob(z[:, :, k]).numpy()
             for k, a in enumerate(alphas))
  np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-10)


def test_shapes_and_batch(rng):
  alphas = np.array([[0.1, 0.5, 0.9], [0.2, 0.4, 0.6]], np.float32)
  prior = ar1.AR1Prior(alphas, 7)
  assert prior.batch_shape == [2] and prior.event_shape == [7, 3]
  sample = prior.sample(4, seed=tf.constant([3, 4], tf.int32))
  assert sample.shape == [4, 2, 7, 3]
  assert prior.log_prob(sample).shape == [4, 2]
  assert prior[1].batch_shape == []
  np.testing.assert_array_equal(prior.mean(), np.zeros([2, 7, 3]))
  np.testing.assert_array_equal(prior.stddev(), np.ones([2, 7, 3]))


def test_stateless_sampling_is_deterministic():
  prior = ar1.AR1Prior([0.5, 0.9], 5)
  seed = tf.constant([7, 8], tf.int32)
  a = prior.sample(3, seed=seed)
  b = prior.sample(3, seed=seed)
  c = prior.sample(3, seed=tf.constant([7, 9], tf.int32))
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)


def test_samples_have_unit_variance_and_lag_one_correlation():
  alphas = np.array([0., 0.5, 0.95], np.float32)
  z = ar1.AR1Prior(alphas, 64).sample(4000, seed=tf.constant([1, 2])).numpy()
  np.testing.assert_allclose(z.var(axis=(0, 1)), 1., atol=0.04)
  lag1 = (z[:, 1:] * z[:, :-1]).mean(axis=(0, 1))
  np.testing.assert_allclose(lag1, alphas, atol=0.03)
  # Every step (including the first and last) has unit variance.
  np.testing.assert_allclose(z[:, [0, -1]].var(axis=0), 1., atol=0.1)


def test_sampling_long_sequences_is_finite():
  prior = ar1.AR1Prior([0., 0.5, 0.99], 1024)
  z = prior.sample(8, seed=tf.constant([5, 6])).numpy()
  assert np.all(np.isfinite(z))
  assert 0.5 < z.var() < 1.5


def _random_posterior(rng, n, d, dtype=np.float64):
  loc = rng.normal(0., 1., [n, d]).astype(dtype)
  scale = np.exp(rng.uniform(-1.5, 0.5, [n, d])).astype(dtype)
  return loc, scale


@pytest.mark.parametrize('n', [2, 3, 16, 64])
def test_kl_matches_dense_mvn_kl(rng, n):
  alphas = np.array([0., 0.3, 0.9, 0.99])
  loc, scale = _random_posterior(rng, n, alphas.size)
  got = ar1.ar1_kl_per_dim(loc, scale, alphas).numpy()
  for k, a in enumerate(alphas):
    q = tfd.MultivariateNormalDiag(loc[:, k], scale[:, k])
    want = tfd.kl_divergence(q, dense_ar1(a, n)).numpy()
    np.testing.assert_allclose(got[k], want, rtol=1e-4)
  np.testing.assert_allclose(ar1.ar1_kl(loc, scale, alphas), got.sum(), rtol=1e-12)


def test_kl_float32_close_to_float64(rng):
  alphas = np.array([0., 0.3, 0.9, 0.99])
  loc, scale = _random_posterior(rng, 32, alphas.size)
  got = ar1.ar1_kl_per_dim(loc.astype(np.float32), scale.astype(np.float32),
                           alphas.astype(np.float32)).numpy()
  want = ar1.ar1_kl_per_dim(loc, scale, alphas).numpy()
  np.testing.assert_allclose(got, want, rtol=1e-4)


def test_kl_agrees_with_monte_carlo(rng):
  alphas = np.array([0.2, 0.8], np.float64)
  n = 16
  loc, scale = _random_posterior(rng, n, alphas.size)
  q = tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=2)
  prior = ar1.AR1Prior(alphas, n)
  z = q.sample(20000, seed=tf.constant([11, 12]))
  log_ratio = (q.log_prob(z) - prior.log_prob(z)).numpy()
  estimate = log_ratio.mean()
  stderr = log_ratio.std() / np.sqrt(log_ratio.size)
  exact = ar1.ar1_kl(loc, scale, alphas).numpy()
  assert abs(estimate - exact) < 4. * stderr, (estimate, exact, stderr)


def test_kl_divergence_dispatch(rng):
  alphas = np.array([[0.3, 0.9], [0.5, 0.6]], np.float32)
  loc = rng.normal(size=[2, 5, 2]).astype(np.float32)
  scale = np.exp(rng.normal(size=[2, 5, 2]) * 0.3).astype(np.float32)
  q = tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=2)
  kl = tfd.kl_divergence(q, ar1.AR1Prior(alphas, 5)).numpy()
  assert kl.shape == (2,)
  np.testing.assert_allclose(kl, ar1.ar1_kl(loc, scale, alphas), rtol=1e-6)


def test_kl_dispatch_rejects_unsupported_posteriors():
  prior = ar1.AR1Prior([0.5, 0.5], 4)
  logistic = tfd.Independent(tfd.Logistic(tf.zeros([4, 2]), 1.), 2)
  with pytest.raises(NotImplementedError, match='tfd.Normal'):
    tfd.kl_divergence(logistic, prior)
  wrong_ndims = tfd.Independent(tfd.Normal(tf.zeros([4, 2]), 1.), 1)
  with pytest.raises(NotImplementedError, match='reinterpreted_batch_ndims'):
    tfd.kl_divergence(wrong_ndims, prior)
  wrong_shape = tfd.Independent(tfd.Normal(tf.zeros([3, 2]), 1.), 2)
  with pytest.raises(NotImplementedError, match='Event shapes differ'):
    tfd.kl_divergence(wrong_shape, prior)


def test_linear_alphas():
  np.testing.assert_allclose(ar1.linear_alphas(0.2, 0.8, 4), [0.2, 0.4, 0.6, 0.8],
                             rtol=1e-6)
  np.testing.assert_allclose(ar1.linear_alphas(0.2, 0.8, 1), [0.8])
  assert ar1.linear_alphas(0.2, 0.8, 3).dtype == tf.float32


# ---- conditionals and continuation ---------------------------------------------------
def test_transition_coefficients_are_the_ar1_conditionals():
  alphas = np.array([0.3, 0.9], np.float32)
  decay, scale = ar1.AR1Prior(alphas, 4).transition_coefficients()
  np.testing.assert_array_equal(decay[0], [0., 0.])
  np.testing.assert_array_equal(scale[0], [1., 1.])
  np.testing.assert_allclose(decay[1:], np.tile(alphas, [3, 1]))
  np.testing.assert_allclose(scale[1:], np.tile(np.sqrt(1. - alphas ** 2), [3, 1]),
                             rtol=1e-6)


def test_continuation_of_nothing_is_a_prior_sample():
  """With no step kept, sample_continuation draws the prior's own sample."""
  prior = ar1.AR1Prior(np.array([0.2, 0.7, 0.95], np.float32), 6)
  seed = tf.constant([8, 9], tf.int32)
  continued = prior.sample_continuation(tf.fill([1, 6, 3], 7.), tf.zeros([1, 6]), seed)
  np.testing.assert_array_equal(continued.numpy(), prior.sample(1, seed=seed).numpy())


def test_continuation_keeps_the_kept_steps_and_its_mean_decays(rng):
  alphas = np.array([0.5, 0.9], np.float32)
  prior = ar1.AR1Prior(alphas, 5)
  z = rng.standard_normal([2, 5, 2]).astype(np.float32)
  mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], np.float32)
  out = prior.sample_continuation(z, mask, tf.constant([1, 2])).numpy()
  np.testing.assert_array_equal(out[0, :2], z[0, :2])
  np.testing.assert_array_equal(out[1], z[1])
  assert not np.allclose(out[0, 2:], z[0, 2:])
  mean = prior.continue_sequence(z, mask, tf.zeros_like(z)).numpy()
  np.testing.assert_allclose(mean[0, 2:], alphas ** np.arange(1, 4)[:, None] * z[0, 1],
                             rtol=1e-6)


def _minimise_kl(alphas, num_steps, steps=1500):
  """Minimum of KL(q || AR(1)) over mean-field q, found by Adam (float64)."""
  alphas = tf.constant(alphas, tf.float64)
  shape = [num_steps, alphas.shape[0]]
  loc = tf.Variable(tf.fill(shape, tf.constant(0.3, tf.float64)))
  log_scale = tf.Variable(tf.fill(shape, tf.constant(-0.2, tf.float64)))
  adam(lambda step: ar1.ar1_kl(loc, tf.exp(log_scale), alphas), [loc, log_scale],
       steps, 0.05, decay_to=0.01)
  return ar1.ar1_kl_per_dim(loc, tf.exp(log_scale), alphas).numpy()


@pytest.mark.parametrize('num_steps', [1, 2, 8])
def test_committed_rate_is_the_minimum_kl(num_steps):
  alphas = np.array([0.1, 0.5, 0.8, 0.95])
  found = _minimise_kl(alphas, num_steps)
  per_dim = ar1.committed_rate_per_dim(alphas, num_steps).numpy()
  np.testing.assert_allclose(found, per_dim, rtol=1e-3, atol=1e-7)
  np.testing.assert_allclose(ar1.committed_rate(alphas, num_steps), per_dim.sum())
  np.testing.assert_allclose(ar1.committed_rate_np(alphas, num_steps),
                             per_dim.sum(), rtol=1e-12)


def test_committed_rate_formula_values():
  assert ar1.committed_rate_np([0.5], 1) == 0.
  np.testing.assert_allclose(ar1.committed_rate_np([0.5], 2),
                             -0.5 * math.log(0.75), rtol=1e-14)
  np.testing.assert_allclose(ar1.committed_rate_bits_np([0.5, 0.9], 10),
                             ar1.committed_rate_np([0.5, 0.9], 10) / math.log(2))


def test_minimum_is_attained_at_the_documented_posterior():
  alpha, n = 0.8, 6
  var = np.full([n, 1], (1 - alpha ** 2) / (1 + alpha ** 2))
  var[0] = var[-1] = 1 - alpha ** 2
  kl = ar1.ar1_kl(np.zeros([n, 1]), np.sqrt(var), np.array([alpha])).numpy()
  np.testing.assert_allclose(kl, ar1.committed_rate_np([alpha], n), rtol=1e-12)


@pytest.mark.parametrize('rate', [0.5, 10., 100.])
def test_common_alpha_round_trip(rate):
  alphas = ar1.alphas_for_rate(rate, 32, 8)
  assert alphas.shape == (8,) and np.all(alphas == alphas[0])
  np.testing.assert_allclose(ar1.committed_rate_np(alphas, 32), rate, rtol=1e-10)


@pytest.mark.parametrize('rate_bits', [15., 25.])
def test_alpha_hi_round_trip_in_bits(rate_bits):
  alphas = ar1.alphas_for_rate_bits(rate_bits, 16, 5, alpha_lo=0.5)
  assert alphas[0] == 0.5
  np.testing.assert_allclose(np.diff(alphas), np.diff(alphas)[0], rtol=1e-9)
  np.testing.assert_allclose(ar1.committed_rate_bits_np(alphas, 16), rate_bits,
                             rtol=1e-10)
  same = ar1.alphas_for_rate(rate_bits, 16, 5, alpha_lo=0.5, units='bits')
  np.testing.assert_array_equal(alphas, same)


def test_zero_rate_gives_zero_alphas():
  np.testing.assert_array_equal(ar1.alphas_for_rate(0., 8, 3), np.zeros(3))


@pytest.mark.parametrize('kwargs', [
    dict(rate=-1., num_steps=8, num_dims=4),
    dict(rate=1e6, num_steps=8, num_dims=4),
    dict(rate=1., num_steps=8, num_dims=4, alpha_lo=0.9),   # below rate(lo = hi)
    dict(rate=1., num_steps=1, num_dims=4),
])
def test_impossible_rates_raise_with_the_achievable_range(kwargs):
  with pytest.raises(ar1.InfeasibleRateError, match='achievable range is') as info:
    ar1.alphas_for_rate(**kwargs)
  assert isinstance(info.value, ValueError) and isinstance(info.value, UserError)


def test_bad_units_and_alpha_lo_raise():
  with pytest.raises(ValueError, match='units'):
    ar1.alphas_for_rate(1., 8, 4, units='bananas')
  with pytest.raises(ValueError, match='alpha_lo'):
    ar1.alphas_for_rate(1., 8, 4, alpha_lo=1.5)
