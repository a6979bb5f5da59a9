"""`recurrent.lstm_sequence`: values and hand-written gradient against the
automatically differentiated loop."""

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta.layers import recurrent


@pytest.fixture
def rng():
  return np.random.default_rng(0)


def _scan_reference(projected, kernel):
  """The LSTM as a plain `tf.scan` of `lstm_cell`, differentiated by TensorFlow."""
  zeros = tf.zeros([projected.shape[1], kernel.shape[0]])

  def step(state, x):
    hidden, cell = state
    return recurrent.lstm_cell(x + tf.matmul(hidden, kernel), cell)

  hiddens, _ = tf.scan(step, projected, initializer=(zeros, zeros))
  return hiddens


def _value_and_grads(fn, projected, kernel, weights):
  with tf.GradientTape() as tape:
    tape.watch([projected, kernel])
    hiddens = fn(projected, kernel)
    loss = tf.reduce_sum(tf.sin(hiddens) * weights)   # a non-trivial upstream gradient
  return (hiddens,) + tuple(tape.gradient(loss, [projected, kernel]))


@pytest.mark.parametrize('jit', [False, True])
def test_matches_differentiated_loop(rng, jit):
  steps, batch, hidden = 7, 3, 5
  projected = tf.constant(rng.normal(0, 1.5, [steps, batch, 4 * hidden]), tf.float32)
  kernel = tf.constant(rng.normal(0, 0.7, [hidden, 4 * hidden]), tf.float32)
  weights = tf.constant(rng.normal(size=[steps, batch, hidden]), tf.float32)
  new = tf.function(lambda *a: _value_and_grads(recurrent.lstm_sequence, *a),
                    jit_compile=jit)(projected, kernel, weights)
  old = _value_and_grads(_scan_reference, projected, kernel, weights)
  if not jit:   # the forward pass is the same arithmetic
    np.testing.assert_array_equal(new[0], old[0])
  for a, b in zip(new, old):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
  assert np.abs(old[2]).min() > 0   # every kernel entry receives gradient


def test_gradient_reaches_a_variable_kernel(rng):
  kernel = tf.Variable(rng.normal(0, 0.5, [4, 16]).astype(np.float32))
  projected = tf.constant(rng.normal(size=[3, 2, 16]), tf.float32)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(recurrent.lstm_sequence(projected, kernel))
  grad = tape.gradient(loss, kernel)
  assert grad is not None and grad.shape == [4, 16]
