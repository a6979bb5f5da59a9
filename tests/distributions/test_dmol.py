"""Discretized logistic mixture: normalisation, reference values, stability, sampling."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from t2t_delta.distributions import dmol

tfd = tfp.distributions
VALUES = np.arange(256)


def _log_sigmoid(v):
  return -np.logaddexp(0., -v)


def _log_diff_sigmoid(hi, lo):
  """log(sigmoid(hi) - sigmoid(lo)) for hi > lo, as a difference of log-CDFs."""
  with np.errstate(divide='ignore'):   # -inf only in branches np.where discards
    return _log_sigmoid(hi) + np.log1p(-np.exp(_log_sigmoid(lo) - _log_sigmoid(hi)))


def _reference_log_prob_per_pixel(values, logits, locs, log_scales, coeffs):
  """float64 NumPy DMOL joint log-prob per pixel, `[..., H, W]`."""
  values = np.asarray(values, np.float64)
  logits, locs, log_scales = (np.asarray(a, np.float64)
                              for a in (logits, locs, log_scales))
  log_scales = np.maximum(log_scales, -7.)
  x = values / 127.5 - 1.
  means = np.array(locs + 0. * x[..., None])
  if coeffs is not None:
    c = np.tanh(np.asarray(coeffs, np.float64))
    means[..., 1, :] += c[..., 0, :] * x[..., 0, None]
    means[..., 2, :] += c[..., 1, :] * x[..., 0, None] + c[..., 2, :] * x[..., 1, None]
  scale = np.exp(log_scales)
  upper = (x[..., None] + 1. / 255. - means) / scale
  lower = (x[..., None] - 1. / 255. - means) / scale
  # Bin mass as a difference of CDFs below the mode and of survival functions
  # above it (sigmoid(-v) = 1 - sigmoid(v)), so float64 keeps its precision.
  interior = np.where(upper + lower < 0., _log_diff_sigmoid(upper, lower),
                      _log_diff_sigmoid(-lower, -upper))
  v = values[..., None]
  log_mass = np.where(v == 0, _log_sigmoid(upper),
                      np.where(v == 255, _log_sigmoid(-lower), interior))
  log_mix = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  joint = log_mix + log_mass.sum(-2)
  peak = joint.max(-1, keepdims=True)
  return (peak + np.log(np.exp(joint - peak).sum(-1, keepdims=True)))[..., 0]


def _random_params(rng, batch, num_channels, num_components, log_scale_range=(-5., 0.)):
  shape = list(batch)
  params = dict(
      logits=rng.normal(0., 2., shape + [num_components]),
      locs=rng.uniform(-1.2, 1.2, shape + [num_channels, num_components]),
      log_scales=rng.uniform(*log_scale_range, shape + [num_channels, num_components]),
      coeffs=(rng.normal(0., 1., shape + [3, num_components])
              if num_channels == 3 else None))
  return {k: None if v is None else v.astype(np.float32) for k, v in params.items()}


def test_num_params():
  assert dmol.dmol_num_params(3, 10) == 100
  assert dmol.dmol_num_params(1, 5) == 15
  with pytest.raises(ValueError, match='1 or 3 channels'):
    dmol.dmol_num_params(2, 5)


def test_network_output_split_and_shapes(rng):
  out = rng.normal(size=[2, 4, 5, 30]).astype(np.float32)
  dist = dmol.dmol_from_network_output(out, 3, 3)
  assert dist.batch_shape == [2] and dist.event_shape == [4, 5, 3]
  np.testing.assert_array_equal(dist.logits, out[..., :3])
  np.testing.assert_array_equal(dist.locs[..., 1, :], out[..., 12:15])
  np.testing.assert_array_equal(dist.log_scales[..., 2, :], out[..., 24:27])
  np.testing.assert_array_equal(dist.coeffs[..., 0, :], out[..., 9:12])
  with pytest.raises(ValueError, match='needs 30 numbers'):
    dmol.dmol_from_network_output(out[..., :29], 3, 3)


def test_grayscale_probabilities_sum_to_one(rng):
  p = _random_params(rng, [16, 1, 1], 1, 5, log_scale_range=(-9., 1.))
  dist = dmol.DiscretizedLogisticMixture(**p)
  values = np.broadcast_to(VALUES[:, None, None, None, None], [256, 16, 1, 1, 1])
  log_probs = dist.log_prob(values).numpy().astype(np.float64)
  np.testing.assert_allclose(np.exp(log_probs).sum(0), 1., atol=1e-5)


def test_rgb_conditionals_sum_to_one(rng):
  batch = 12
  p = _random_params(rng, [batch, 1, 1], 3, 4, log_scale_range=(-8., 0.5))
  dist = dmol.DiscretizedLogisticMixture(**p)
  fixed = rng.integers(0, 256, [batch, 1, 1, 3])
  fixed[:2, ..., :2] = [[0, 255]]                     # edge values as context
  for channel in range(3):
    values = np.broadcast_to(fixed, [256] + list(fixed.shape)).copy()
    values[..., channel] = VALUES[:, None, None, None]
    sub = dist.log_prob_per_subpixel(values).numpy().astype(np.float64)
    total = np.exp(sub[..., channel]).sum(0)
    np.testing.assert_allclose(total, 1., atol=1e-5)
    # Earlier channels' conditionals do not depend on the enumerated value.
    if channel > 0:
      earlier = sub[..., :channel]
      np.testing.assert_allclose(earlier, np.broadcast_to(earlier[:1], earlier.shape),
                                 rtol=1e-6)
  # The subpixel conditionals multiply to the joint.
  np.testing.assert_allclose(sub.sum(-1), dist.log_prob_per_pixel(values), rtol=1e-5)


@pytest.mark.parametrize('num_channels', [1, 3])
def test_log_prob_matches_numpy_reference(rng, num_channels):
  p = _random_params(rng, [3, 4, 5], num_channels, 6, log_scale_range=(-8., 1.))
  dist = dmol.DiscretizedLogisticMixture(**p)
  values = rng.integers(0, 256, [3, 4, 5, num_channels])
  values[:, 0, 0] = 0
  values[:, 1, 1] = 255
  want = _reference_log_prob_per_pixel(values, **p)
  np.testing.assert_allclose(dist.log_prob_per_pixel(values), want, rtol=1e-5,
                             atol=1e-4)
  np.testing.assert_allclose(dist.log_prob(values), want.sum((-2, -1)), rtol=1e-5)
  # Float and integer values give the same answer.
  np.testing.assert_allclose(dist.log_prob(values.astype(np.float32)),
                             dist.log_prob(values.astype(np.int32)))


def test_extreme_parameters_are_finite_with_finite_gradients():
  k = 3
  logits = tf.constant([[[[50., -50., 0.]]]] * 1)               # [1, 1, 1, K]
  logits = tf.tile(logits, [1, 2, 3, 1])                        # [1, 2, 3, K]
  locs = tf.constant([1e3, -1e3, 0.])[None, None, None, None, :] * tf.ones(
      [1, 2, 3, 3, k])
  log_scales = tf.constant([-30., -7., 60.])[None, None, None, :, None] * tf.ones(
      [1, 2, 3, 3, k])
  coeffs = 1e3 * tf.ones([1, 2, 3, 3, k])
  values = tf.constant([[[[0, 255, 128], [255, 0, 1], [254, 127, 0]],
                         [[0, 0, 0], [255, 255, 255], [3, 250, 128]]]])
  params = [logits, locs, log_scales, coeffs]
  with tf.GradientTape() as tape:
    tape.watch(params)
    dist = dmol.DiscretizedLogisticMixture(*params)
    log_prob = dist.log_prob(values)
    sub = dist.log_prob_per_subpixel(values)
  grads = tape.gradient(log_prob, params)
  assert np.all(np.isfinite(log_prob)) and np.all(np.isfinite(sub))
  for g in grads:
    assert np.all(np.isfinite(g))


def test_bfloat16_output_is_stable_and_close_to_float32(rng):
  out32 = rng.normal(0., 1., [2, 4, 4, 30]).astype(np.float32)
  out16 = tf.cast(out32, tf.bfloat16)
  values = rng.integers(0, 256, [2, 4, 4, 3])
  lp16 = dmol.dmol_from_network_output(out16, 3, 3).log_prob(values)
  rounded = dmol.dmol_from_network_output(tf.cast(out16, tf.float32), 3, 3)
  exact = dmol.dmol_from_network_output(out32, 3, 3)
  assert lp16.dtype == tf.float32 and np.all(np.isfinite(lp16))
  np.testing.assert_allclose(lp16, rounded.log_prob(values), rtol=1e-6)
  np.testing.assert_allclose(lp16, exact.log_prob(values), rtol=2e-2)


def _chi_square_p_value(counts, probs, min_expected=5.):
  """p-value of a chi-square goodness-of-fit test, pooling bins with few expected."""
  expected = probs * counts.sum()
  small = expected < min_expected
  observed = np.append(counts[~small], counts[small].sum())
  expected = np.append(expected[~small], expected[small].sum())
  stat = np.sum((observed - expected) ** 2 / np.maximum(expected, 1e-12))
  dof = observed.size - 1
  return float(tfd.Chi2(np.float64(dof)).survival_function(stat))


def test_grayscale_sample_frequencies_match_probabilities(rng):
  p = _random_params(rng, [1, 1], 1, 3, log_scale_range=(-4., -2.))
  dist = dmol.DiscretizedLogisticMixture(**p)
  samples = dist.sample(50000, seed=tf.constant([3, 14])).numpy()
  assert samples.shape == (50000, 1, 1, 1)
  assert np.all(samples == np.round(samples)) and samples.min() >= 0
  assert samples.max() <= 255
  counts = np.bincount(samples.astype(np.int64).ravel(), minlength=256)
  probs = np.exp(dist.log_prob(VALUES[:, None, None, None]).numpy().astype(np.float64))
  assert _chi_square_p_value(counts, probs) > 1e-3


def test_rgb_sample_pixel_frequencies_match_probabilities(rng):
  p = _random_params(rng, [1, 1], 3, 2, log_scale_range=(-3.5, -2.))
  params = np.concatenate([p['logits']] + [
      np.concatenate([p['locs'][..., c, :], p['log_scales'][..., c, :],
                      p['coeffs'][..., c, :]], -1) for c in range(3)], -1)[0, 0]
  dist = dmol.DiscretizedLogisticMixture(**p)
  num = 50000
  samples = dmol.sample_pixel(np.broadcast_to(params, [num, params.size]), 3, 2,
                              seed=tf.constant([9, 26])).numpy().astype(np.int64)
  assert samples.shape == (num, 3)
  # Marginal of R: the subpixel conditional of channel 0.
  grid = np.zeros([256, 1, 1, 3], np.int64)
  grid[:, 0, 0, 0] = VALUES
  probs_r = np.exp(dist.log_prob_per_subpixel(grid).numpy()[:, 0, 0, 0])
  counts_r = np.bincount(samples[:, 0], minlength=256)
  assert _chi_square_p_value(counts_r, probs_r.astype(np.float64)) > 1e-3
  # G given the most frequent R, and B given the most frequent (R, G).
  red = np.argmax(counts_r)
  grid[:, 0, 0, 0] = red
  grid[:, 0, 0, 1] = VALUES
  probs_g = np.exp(dist.log_prob_per_subpixel(grid).numpy()[:, 0, 0, 1])
  with_red = samples[samples[:, 0] == red]
  counts_g = np.bincount(with_red[:, 1], minlength=256)
  assert _chi_square_p_value(counts_g, probs_g.astype(np.float64)) > 1e-3
  green = np.argmax(counts_g)
  grid[:, 0, 0, 1] = green
  grid[:, 0, 0, 2] = VALUES
  probs_b = np.exp(dist.log_prob_per_subpixel(grid).numpy()[:, 0, 0, 2])
  counts_b = np.bincount(with_red[with_red[:, 1] == green][:, 2], minlength=256)
  assert counts_b.sum() > 200
  assert _chi_square_p_value(counts_b, probs_b.astype(np.float64)) > 1e-3


def test_sampling_is_deterministic_and_to_pixels(rng):
  dist = dmol.dmol_from_network_output(rng.normal(size=[2, 3, 3, 30]), 3, 3)
  seed = tf.constant([1, 2], tf.int32)
  a, b = dist.sample(2, seed=seed), dist.sample(2, seed=seed)
  np.testing.assert_array_equal(a, b)
  assert a.shape == [2, 2, 3, 3, 3]
  pixels = dmol.to_pixels(a)
  assert pixels.dtype == tf.uint8
  np.testing.assert_array_equal(pixels.numpy(), a.numpy().astype(np.uint8))
  assert dmol.to_pixels(a, tf.int32).dtype == tf.int32
