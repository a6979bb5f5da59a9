"""Jacobians of image layers by gradients, for the causality tests of tests/layers."""

import numpy as np
import tensorflow as tf

H, W, C = 5, 4, 3


def image(seed=0, shape=(1, H, W, C)):
  return tf.random.stateless_uniform(shape, [seed, 1], -1., 1.)


def batched_jacobian(fn, x, num_rows):
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


def pixel_jacobian(fn, x):
  """|d sum_k w_k fn(x)[0, i, j, k] / d x[0, i', j', c]| as [H*W, H*W, C] numpy."""
  h, w, c = x.shape[1:]

  def per_pixel(tiled):
    y = fn(tiled)
    weights = tf.random.stateless_normal(y.shape[-1:], [7, 7])
    return tf.reshape(tf.reduce_sum(y * weights, axis=-1), [h * w, h * w])

  return batched_jacobian(per_pixel, x, h * w).reshape(h * w, h * w, c)


def assert_strictly_causal(jac, require_all_earlier):
  n = jac.shape[0]
  for p in range(n):
    assert np.all(jac[p, p:] == 0.), f'pixel {p} depends on pixels >= itself'
    if p > 0:
      seen = jac[p, :p].sum(axis=-1) > 0
      assert seen.any(), f'pixel {p} depends on no earlier pixel'
      if require_all_earlier:
        assert seen.all(), f'pixel {p} misses earlier pixels {np.where(~seen)[0]}'
