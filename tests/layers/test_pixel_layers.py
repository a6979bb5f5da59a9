"""Causality of the pixel convolutions and the PixelSNAIL-like stacks, by gradients."""

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta import distributions
from t2t_delta.layers import core
from t2t_delta.layers import pixel
from t2t_delta.layers import pixelsnail

H, W, C = 5, 4, 3


def _image(seed=0, shape=(1, H, W, C)):
  return tf.random.stateless_uniform(shape, [seed, 1], -1., 1.)


def _batched_jacobian(fn, x, num_rows):
  """Rows of a Jacobian in one backward pass: copy b of x differentiates output b.

  `fn(x_tiled)` must return `[num_rows, ...]` scalars per example, one of which
  (selected by `row_of`) is kept for each copy; examples are independent, so the
  gradient of the sum with respect to copy b is row b of the Jacobian.
  """
  tiled = tf.tile(x, [num_rows] + [1] * (x.shape.rank - 1))
  with tf.GradientTape() as tape:
    tape.watch(tiled)
    per_copy = fn(tiled)                                  # [num_rows, num_rows]
    picked = tf.reduce_sum(per_copy * tf.eye(num_rows))
  return np.abs(tape.gradient(picked, tiled).numpy())


def _pixel_jacobian(fn, x):
  """|d sum_k w_k fn(x)[0, i, j, k] / d x[0, i', j', c]| as [H*W, H*W, C] numpy."""
  h, w, c = x.shape[1:]

  def per_pixel(tiled):
    y = fn(tiled)
    weights = tf.random.stateless_normal(y.shape[-1:], [7, 7])
    return tf.reshape(tf.reduce_sum(y * weights, axis=-1), [h * w, h * w])

  return _batched_jacobian(per_pixel, x, h * w).reshape(h * w, h * w, c)


def _assert_strictly_causal(jac, require_all_earlier):
  n = jac.shape[0]
  for p in range(n):
    assert np.all(jac[p, p:] == 0.), f'pixel {p} depends on pixels >= itself'
    if p > 0:
      seen = jac[p, :p].sum(axis=-1) > 0
      assert seen.any(), f'pixel {p} depends on no earlier pixel'
      if require_all_earlier:
        assert seen.all(), f'pixel {p} misses earlier pixels {np.where(~seen)[0]}'


def test_shifted_convolutions_have_the_documented_receptive_fields():
  x = _image()
  seeds = core.SeedSequence(1)
  down = pixel.DownShiftedConv2D(C, 4, (2, 3), seeds=seeds)
  down_right = pixel.DownRightShiftedConv2D(C, 4, (2, 2), seeds=seeds)
  jac = _pixel_jacobian(down, x).sum(-1) > 0
  for i in range(H):
    for j in range(W):
      expect = np.zeros([H, W], bool)
      expect[max(i - 1, 0):i + 1, max(j - 1, 0):j + 2] = True
      np.testing.assert_array_equal(jac[i * W + j].reshape(H, W), expect)
  jac = _pixel_jacobian(down_right, x).sum(-1) > 0
  for i in range(H):
    for j in range(W):
      expect = np.zeros([H, W], bool)
      expect[max(i - 1, 0):i + 1, max(j - 1, 0):j + 1] = True
      np.testing.assert_array_equal(jac[i * W + j].reshape(H, W), expect)


def test_causal_input_invariants():
  layer = pixel.CausalInput(C, 8, seeds=core.SeedSequence(2))
  x = _image()
  vertical = _pixel_jacobian(lambda v: layer(v)[0], x).sum(-1) > 0
  horizontal = _pixel_jacobian(lambda v: layer(v)[1], x).sum(-1) > 0
  for p in range(H * W):
    row = p // W
    assert not vertical[p, row * W:].any()
    assert not horizontal[p, p:].any()


def test_weight_norm_starts_as_plain_convolution():
  x = _image()
  plain = pixel.DownRightShiftedConv2D(C, 4, seeds=core.SeedSequence(3))
  normed = pixel.DownRightShiftedConv2D(C, 4, weight_norm=True,
                                        seeds=core.SeedSequence(3))
  np.testing.assert_allclose(plain(x), normed(x), rtol=1e-5, atol=1e-6)
  assert len(normed.trainable_variables) == 3


def test_gated_blocks_with_aux_and_condition_stay_causal():
  seeds = core.SeedSequence(4)
  inp = pixel.CausalInput(C, 8, seeds=seeds)
  vertical = pixel.GatedResidualBlock(8, 16, 'down', seeds=seeds)
  horizontal = pixel.GatedResidualBlock(8, 16, 'down_right', aux_size=8,
                                        condition_size=3, dropout_rate=0.3,
                                        seeds=seeds)
  cond = tf.random.normal([1, H, W, 3])

  def fn(x):
    v, h = inp(x)
    v = vertical(v, training=True, seed=tf.constant([1, 1]))
    return horizontal(h, aux=v, condition=cond, training=True, seed=tf.constant([1, 2]))

  _assert_strictly_causal(_pixel_jacobian(fn, _image()), require_all_earlier=False)


def test_attention_layer_indices():
  assert pixelsnail.attention_layer_indices(8, 2) == (3, 7)
  assert pixelsnail.attention_layer_indices(3, 1) == (2,)
  assert pixelsnail.attention_layer_indices(30, 16)[-1] == 29
  assert len(pixelsnail.attention_layer_indices(30, 16)) == 16
  assert pixelsnail.attention_layer_indices(4, 0) == ()
  with pytest.raises(ValueError):
    pixelsnail.attention_layer_indices(2, 3)


def _snail(**kwargs):
  args = dict(image_shape=(H, W, C), num_layers=2, hidden_size=8, filter_size=16,
              num_attention_layers=1, num_heads=2, dropout_rate=0.2,
              output_size=distributions.dmol_num_params(C, 2),
              seeds=core.SeedSequence(5))
  args.update(kwargs)
  return pixelsnail.PixelSnail(**args)


@pytest.mark.parametrize('training', [False, True])
def test_pixelsnail_is_strictly_causal_and_sees_all_earlier_pixels(training):
  net = _snail()
  jac = _pixel_jacobian(
      lambda x: net(x, training=training, seed=tf.constant([3, 4])), _image())
  # Attention reads the image at every earlier pixel directly.
  _assert_strictly_causal(jac, require_all_earlier=not training)


def test_pixelsnail_without_attention_is_strictly_causal():
  net = _snail(num_attention_layers=0, num_layers=3)
  _assert_strictly_causal(_pixel_jacobian(net, _image()), require_all_earlier=False)


def test_dmol_channel_order_within_a_pixel():
  """log p(x[p, c] | ...) depends on x[p, c' < c] (coupling) only, never c' > c."""
  k = 2
  net = _snail()
  x = tf.round((_image(3) + 1.) * 127.5) / 127.5 - 1.   # exact pixel values

  def per_subpixel(tiled):
    out = net(tiled)
    logits, locs, log_scales, coeffs = distributions.split_network_output(out, C, k)
    values = (tiled + 1.) * 127.5
    sub = distributions.dmol_log_prob_per_subpixel(values, logits, locs, log_scales,
                                                   coeffs)          # [n, H, W, C]
    return tf.reshape(sub, [H * W * C, H * W * C])

  jac = _batched_jacobian(per_subpixel, x, H * W * C).reshape(H * W, C, H * W, C)
  for p in range(H * W):
    for c in range(C):
      assert np.all(jac[p, c, p + 1:] == 0.), 'depends on a later pixel'
      assert np.all(jac[p, c, p, c + 1:] == 0.), 'depends on a later channel'
      if p > 0:
        # (At pixel 0 the freshly initialised network outputs all-zero parameters,
        # so the coupling coefficients tanh(0) vanish there.)
        assert np.all(jac[p, c, p, :c] > 0.), 'earlier channels must enter the mean'
        assert jac[p, c, :p].sum() > 0.


@pytest.mark.parametrize('structure', ['causal', 'full', 'anti_causal'])
def test_cross_attention_mask(structure):
  net = _snail(condition_size=3, condition_length=H, condition_structure=structure,
               num_attention_layers=0)
  x = _image()
  cond = tf.random.normal([1, H, 3])
  jac = _batched_jacobian(
      lambda c: tf.reduce_sum(net(tf.tile(x, [H, 1, 1, 1]), c), axis=[2, 3]),
      cond, H).sum(-1)                                    # [H rows, H latents]
  visible = jac > 0
  rows, latents = np.meshgrid(np.arange(H), np.arange(H), indexing='ij')
  expect = {'causal': latents <= rows, 'full': np.ones([H, H], bool),
            'anti_causal': latents >= rows}[structure]
  np.testing.assert_array_equal(visible, expect)


def test_condition_required_iff_configured():
  net = _snail(condition_size=3, condition_length=H)
  with pytest.raises(ValueError):
    net(_image())
  with pytest.raises(ValueError):
    _snail()(_image(), tf.zeros([1, H, 3]))


def test_non_causal_net_sees_every_pixel():
  net = pixelsnail.NonCausalImageNet((H, W, C), 1, 8, 16, num_attention_layers=1,
                                     num_heads=2, output_size=4,
                                     seeds=core.SeedSequence(6))
  jac = _pixel_jacobian(net, _image()).sum(-1)
  assert np.all(jac > 0)


def test_bfloat16_inputs_compute_in_bfloat16():
  net = _snail()
  y = net(tf.cast(_image(), tf.bfloat16), training=True, seed=tf.constant([1, 1]))
  assert y.dtype == tf.bfloat16
  assert np.all(np.isfinite(tf.cast(y, tf.float32).numpy()))
