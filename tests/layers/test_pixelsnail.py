"""Causality of the PixelSNAIL-like stacks, by gradients; attention layout, conditions."""

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta import distributions
from t2t_delta.layers import core
from t2t_delta.layers import pixelsnail

from image_jacobians import (C, H, W, assert_strictly_causal, batched_jacobian, image,
                             pixel_jacobian)


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
  jac = pixel_jacobian(
      lambda x: net(x, training=training, seed=tf.constant([3, 4])), image())
  # Attention reads the image at every earlier pixel directly.
  assert_strictly_causal(jac, require_all_earlier=not training)


def test_pixelsnail_without_attention_is_strictly_causal():
  net = _snail(num_attention_layers=0, num_layers=3)
  assert_strictly_causal(pixel_jacobian(net, image()), require_all_earlier=False)


def test_dmol_channel_order_within_a_pixel():
  """log p(x[p, c] | ...) depends on x[p, c' < c] (coupling) only, never c' > c."""
  k = 2
  net = _snail()
  x = tf.round((image(3) + 1.) * 127.5) / 127.5 - 1.   # exact pixel values

  def per_subpixel(tiled):
    out = net(tiled)
    logits, locs, log_scales, coeffs = distributions.split_network_output(out, C, k)
    values = (tiled + 1.) * 127.5
    sub = distributions.dmol_log_prob_per_subpixel(values, logits, locs, log_scales,
                                                   coeffs)          # [n, H, W, C]
    return tf.reshape(sub, [H * W * C, H * W * C])

  jac = batched_jacobian(per_subpixel, x, H * W * C).reshape(H * W, C, H * W, C)
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
  x = image()
  cond = tf.random.normal([1, H, 3])
  jac = batched_jacobian(
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
    net(image())
  with pytest.raises(ValueError):
    _snail()(image(), tf.zeros([1, H, 3]))


def test_non_causal_net_sees_every_pixel():
  net = pixelsnail.NonCausalImageNet((H, W, C), 1, 8, 16, num_attention_layers=1,
                                     num_heads=2, output_size=4,
                                     seeds=core.SeedSequence(6))
  jac = pixel_jacobian(net, image()).sum(-1)
  assert np.all(jac > 0)


def test_bfloat16_inputs_compute_in_bfloat16():
  net = _snail()
  y = net(tf.cast(image(), tf.bfloat16), training=True, seed=tf.constant([1, 1]))
  assert y.dtype == tf.bfloat16
  assert np.all(np.isfinite(tf.cast(y, tf.float32).numpy()))
