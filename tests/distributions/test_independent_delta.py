"""Independent delta-VAE posterior: every reachable posterior has KL >= delta."""

import math

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta.distributions import independent_delta as idelta

DELTAS = [1e-3, 0.1, 0.5, 2., 10.]


@pytest.mark.parametrize('delta', DELTAS)
def test_interval_endpoints_are_roots(delta):
  lo, hi = idelta.feasible_sigma_interval(delta)
  assert 0. < lo < 1. < hi
  for sigma in (lo, hi):
    slack = math.log(sigma ** 2) - sigma ** 2 + 2. * delta + 1.
    assert 0. <= slack < 1e-4
  # Just outside the interval the constraint cannot be met.
  for sigma in (lo * 0.999, hi * 1.001):
    assert math.log(sigma ** 2) - sigma ** 2 + 2. * delta + 1. < 0.


def test_zero_delta_interval_is_one():
  assert idelta.feasible_sigma_interval(0.) == (1., 1.)
  with pytest.raises(ValueError):
    idelta.feasible_sigma_interval(-1.)


@pytest.mark.parametrize('delta', DELTAS)
def test_kl_is_at_least_delta_for_any_network_output(rng, delta):
  raw = np.concatenate([
      rng.normal(0., 3., [4000, 2]),
      rng.uniform(-50., 50., [4000, 2]),
      np.array([[a, b] for a in (-50., 0., 50.) for b in (-50., 0., 50.)]),
  ]).astype(np.float32)
  loc, scale = idelta.independent_delta_posterior_params(raw[:, 0], raw[:, 1], delta)
  kl = idelta.standard_normal_kl(tf.cast(loc, tf.float64),
                                 tf.cast(scale, tf.float64)).numpy()
  assert np.all(np.isfinite(kl))
  assert kl.min() >= delta * (1. - 1e-5), (kl.min(), delta)


@pytest.mark.parametrize('delta', DELTAS)
def test_minimum_over_a_grid_reaches_delta(delta):
  mu_raw, sigma_raw = np.meshgrid(np.linspace(-5., 5., 41), np.linspace(-8., 8., 81))
  dist = idelta.independent_delta_normal(mu_raw.astype(np.float32),
                                         sigma_raw.astype(np.float32), delta)
  kl = idelta.standard_normal_kl(dist.loc, dist.scale).numpy()
  assert kl.min() <= delta * 1.01


def test_gradients_are_finite(rng):
  mu_raw = tf.constant(rng.uniform(-50., 50., [256]), tf.float32)
  sigma_raw = tf.constant(rng.uniform(-50., 50., [256]), tf.float32)
  with tf.GradientTape() as tape:
    tape.watch([mu_raw, sigma_raw])
    loc, scale = idelta.independent_delta_posterior_params(mu_raw, sigma_raw, 0.5)
    total = tf.reduce_sum(loc + scale)
  grads = tape.gradient(total, [mu_raw, sigma_raw])
  assert all(np.all(np.isfinite(g)) for g in grads)


def test_bfloat16_inputs_are_upcast():
  loc, scale = idelta.independent_delta_posterior_params(
      tf.constant([1., -1.], tf.bfloat16), tf.constant([0., 3.], tf.bfloat16), 0.3)
  assert loc.dtype == tf.float32 and scale.dtype == tf.float32


def test_delta_per_dimension():
  assert idelta.delta_per_dimension(64., 32) == 2.
  with pytest.raises(ValueError):
    idelta.delta_per_dimension(1., 0)
