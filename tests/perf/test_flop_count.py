"""The benchmarks' FLOP counter on graphs whose FLOPs are known by hand."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

from bench import common  # noqa: E402

tf = common.tf


def _count(fn, *specs):
  return common.graph_flops(tf.function(fn).get_concrete_function(*specs).graph)


def test_matmul_einsum_and_conv_forward_and_backward():
  x = tf.TensorSpec([4, 8, 8, 3], tf.float32)
  kernel = tf.Variable(tf.ones([2, 3, 3, 5]))
  weight = tf.Variable(tf.ones([5, 7]))
  proj = tf.Variable(tf.ones([7, 6]))

  def step(x):
    with tf.GradientTape() as tape:
      h = tf.nn.conv2d(x, kernel, 1, 'SAME')                  # [4, 8, 8, 5]
      h = tf.reshape(h, [256, 5]) @ weight                     # [256, 7]
      h = tf.einsum('nk,kd->nd', h, proj)                      # [256, 6]
      loss = tf.reduce_sum(h)
    return loss, tape.gradient(loss, [kernel, weight, proj])

  count = _count(step, x)
  conv = 2 * (4 * 8 * 8 * 5) * (2 * 3 * 3)
  matmul = 2 * 256 * 5 * 7
  einsum = 2 * 256 * 7 * 6
  # Forward once; the backward pass needs the kernel gradients of all three and the
  # input gradients of the matmul and the einsum. The conv's input gradient is built
  # by the tape but read by nothing, so the runtime prunes it and it is not counted.
  expected = 2 * conv + 3 * matmul + 3 * einsum
  assert count.total == expected
  assert count.by_type['Conv2D'] == conv
  assert count.by_type['Conv2DBackpropFilter'] == conv
  assert 'Conv2DBackpropInput' not in count.by_type
  assert count.unknown_shapes == 0


def test_while_loop_counts_trip_count_and_gradient_loop():
  w = tf.Variable(tf.ones([16, 16]))

  def step(x):
    with tf.GradientTape() as tape:
      out = tf.scan(lambda h, _: tf.tanh(h @ w), tf.zeros([10]), initializer=x)
      loss = tf.reduce_sum(out)
    return loss, tape.gradient(loss, w)

  count = _count(step, tf.TensorSpec([2, 16], tf.float32))
  per_step = 2 * 2 * 16 * 16
  # 10 forward steps; each backward step has the input and the kernel gradient.
  assert count.total == pytest.approx(10 * per_step + 10 * 2 * per_step)
  assert not count.dynamic_loops


def test_dynamic_loop_is_reported_and_can_be_skipped():
  w = tf.Variable(tf.ones([8, 8]))

  def loop(x, n):
    x = x @ w
    for _ in tf.range(n):
      x = x @ w
    return x

  specs = (tf.TensorSpec([1, 8], tf.float32), tf.TensorSpec([], tf.int32))
  graph = tf.function(loop).get_concrete_function(*specs).graph
  assert common.graph_flops(graph).total == 2 * 2 * 8 * 8
  skipped = common.graph_flops(graph, skip_dynamic_loops=True)
  assert skipped.total == 2 * 8 * 8 and len(skipped.dynamic_loops) == 1
