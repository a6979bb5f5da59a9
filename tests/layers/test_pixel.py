"""Causality of the pixel convolutions, causal input and gated blocks, by gradients."""

import numpy as np
import tensorflow as tf

from t2t_delta.layers import core
from t2t_delta.layers import pixel

from image_jacobians import C, H, W, assert_strictly_causal, image, pixel_jacobian


def test_shifted_convolutions_have_the_documented_receptive_fields():
  x = image()
  seeds = core.SeedSequence(1)
  down = pixel.DownShiftedConv2D(C, 4, (2, 3), seeds=seeds)
  down_right = pixel.DownRightShiftedConv2D(C, 4, (2, 2), seeds=seeds)
  jac = pixel_jacobian(down, x).sum(-1) > 0
  for i in range(H):
    for j in range(W):
      expect = np.zeros([H, W], bool)
      expect[max(i - 1, 0):i + 1, max(j - 1, 0):j + 2] = True
      np.testing.assert_array_equal(jac[i * W + j].reshape(H, W), expect)
  jac = pixel_jacobian(down_right, x).sum(-1) > 0
  for i in range(H):
    for j in range(W):
      expect = np.zeros([H, W], bool)
      expect[max(i - 1, 0):i + 1, max(j - 1, 0):j + 1] = True
      np.testing.assert_array_equal(jac[i * W + j].reshape(H, W), expect)


def test_causal_input_invariants():
  layer = pixel.CausalInput(C, 8, seeds=core.SeedSequence(2))
  x = image()
  vertical = pixel_jacobian(lambda v: layer(v)[0], x).sum(-1) > 0
  horizontal = pixel_jacobian(lambda v: layer(v)[1], x).sum(-1) > 0
  for p in range(H * W):
    row = p // W
    assert not vertical[p, row * W:].any()
    assert not horizontal[p, p:].any()


def test_weight_norm_starts_as_plain_convolution():
  x = image()
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

  assert_strictly_causal(pixel_jacobian(fn, image()), require_all_earlier=False)
