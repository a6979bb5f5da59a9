"""Committed rate: equals the minimum KL, and the rate solver inverts it."""

import math

import numpy as np
import pytest
import tensorflow as tf

from _dist_reference import adam
from t2t_delta.distributions import ar1
from t2t_delta.errors import UserError


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
