"""LSTM recurrence over a whole sequence with a hand-written gradient.

`lstm_sequence(projected, recurrent_kernel)` runs the LSTM of `lstm_cell` over time
from a zero state and returns every hidden state. Its gradient runs one reverse loop
that produces the gate gradients of every step and then forms the recurrent kernel's
gradient as a single matrix product over all steps and examples,

    d recurrent_kernel = [h_0, h_1, .., h_{T-2}]^T · [dgates_1, .., dgates_{T-1}],

where automatic differentiation of the loop accumulates one rank-B outer product per
step (a `[h, 4h]` addition per step, with a batch of only B rows: slow on CPUs). Values
equal the differentiated loop up to float32 rounding.

Gate order along the last axis: input, forget, cell candidate, output.
"""

import tensorflow as tf


def _cell_with_activations(gates, cell):
  i, f, g, o = tf.split(gates, 4, axis=-1)
  i, f, g, o = tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)
  cell = f * cell + i * g
  return o * tf.tanh(cell), cell, tf.concat([i, f, g, o], axis=-1)


def lstm_cell(gates, cell):
  """One step from pre-activation gates `[B, 4h]` and the previous cell `[B, h]`.

  Returns (hidden, cell), each `[B, h]`.
  """
  hidden, cell, _ = _cell_with_activations(gates, cell)
  return hidden, cell


def _forward(projected, kernel):
  """Loop over time; returns hiddens, cells `[T, B, h]` and activations `[T, B, 4h]`."""
  batch = tf.shape(projected)[1]
  hidden_size = kernel.shape[0]
  zeros = tf.zeros([batch, hidden_size], projected.dtype)

  def step(carry, x):
    hidden, cell, _ = carry
    return _cell_with_activations(x + tf.matmul(hidden, kernel), cell)

  hiddens, cells, activations = tf.scan(
      step, projected, initializer=(zeros, zeros, tf.zeros_like(projected[0])))
  return hiddens, cells, activations


def _backward(d_hiddens, hiddens, cells, activations, kernel):
  """Gate gradients `[T, B, 4h]` of every step, by one reverse loop over time."""
  zeros = tf.zeros_like(hiddens[0])
  previous_cells = tf.concat([zeros[None], cells[:-1]], axis=0)

  def step(carry, inputs):
    d_hidden_next, d_cell_next, _ = carry
    d_hidden_out, cell, previous_cell, acts = inputs
    i, f, g, o = tf.split(acts, 4, axis=-1)
    d_hidden = d_hidden_out + d_hidden_next
    tanh_cell = tf.tanh(cell)
    d_cell = d_cell_next + d_hidden * o * (1. - tf.square(tanh_cell))
    d_gates = tf.concat([d_cell * g * i * (1. - i),
                         d_cell * previous_cell * f * (1. - f),
                         d_cell * i * (1. - tf.square(g)),
                         d_hidden * tanh_cell * o * (1. - o)], axis=-1)
    return (tf.matmul(d_gates, kernel, transpose_b=True), d_cell * f, d_gates)

  _, _, d_gates = tf.scan(
      step, (d_hiddens, cells, previous_cells, activations),
      initializer=(zeros, zeros, tf.zeros_like(activations[0])), reverse=True)
  return d_gates


@tf.custom_gradient
def _lstm(projected, kernel):
  hiddens, cells, activations = _forward(projected, kernel)

  def grad(d_hiddens):
    d_gates = _backward(d_hiddens, hiddens, cells, activations, kernel)
    previous = tf.concat([tf.zeros_like(hiddens[:1]), hiddens[:-1]], axis=0)
    hidden_size, gate_size = kernel.shape
    d_kernel = tf.matmul(tf.reshape(previous, [-1, hidden_size]),
                         tf.reshape(d_gates, [-1, gate_size]), transpose_a=True)
    return d_gates, d_kernel

  return hiddens, grad


def lstm_sequence(projected, recurrent_kernel):
  """Hidden states `[T, B, h]` of an LSTM started from zero state and cell.

  Args:
    projected: `[T, B, 4h]` time-major inputs already multiplied by the input kernel,
      plus the bias (static T).
    recurrent_kernel: `[h, 4h]`.
  """
  return _lstm(projected, tf.convert_to_tensor(recurrent_kernel, projected.dtype))
