"""Auxiliary LSTM prior over latent sequences.

A single-layer LSTM reads z_1..z_{i-1} and predicts a diagonal Gaussian for z_i;
step 1 reads a learned start vector. It is trained by maximum likelihood on
posterior samples that are cut from the encoder's graph (`nll_loss`), so it never
changes the encoder or decoder; it gives a tighter prior for reporting and for
sampling latents. Variables are float32; inputs of other dtypes are cast.
"""

import math

import tensorflow as tf

from t2t_delta.layers import core
from t2t_delta.layers import recurrent

SCALE_FLOOR = 1e-3
_HALF_LOG_TWO_PI = 0.5 * math.log(2. * math.pi)


def _glorot_uniform(shape, seed):
  limit = math.sqrt(6. / (shape[0] + shape[1]))
  return tf.random.stateless_uniform(shape, seed, -limit, limit)


class LSTMPrior(tf.Module):
  """p(z) = prod_i N(z_i; loc_i(z_<i), scale_i(z_<i)) for z of shape `[B, n, d]`.

  Args:
    num_steps: n, the sequence length (static).
    num_dims: d, latent dimensions per step.
    hidden_size: h, LSTM state size.
    seed: int seed for the initial weights.
  """

  def __init__(self, num_steps, num_dims, hidden_size, seed=0, name=None):
    super().__init__(name=name)
    self.num_steps = int(num_steps)
    self.num_dims = int(num_dims)
    self.hidden_size = int(hidden_size)
    d, h = self.num_dims, self.hidden_size
    seeds = tf.random.experimental.stateless_split(tf.constant([seed, 17]), 3)
    with self.name_scope:
      # Gate order along the last axis: input, forget, cell candidate, output.
      self.input_kernel = tf.Variable(_glorot_uniform([d, 4 * h], seeds[0]),
                                      name='input_kernel')
      self.recurrent_kernel = tf.Variable(_glorot_uniform([h, 4 * h], seeds[1]),
                                          name='recurrent_kernel')
      self.bias = tf.Variable(
          tf.concat([tf.zeros([h]), tf.ones([h]), tf.zeros([2 * h])], 0),
          name='bias')
      self.output_kernel = tf.Variable(_glorot_uniform([h, 2 * d], seeds[2]),
                                       name='output_kernel')
      self.output_bias = tf.Variable(tf.zeros([2 * d]), name='output_bias')
      self.start = tf.Variable(tf.zeros([d]), name='start')

  def _cell(self, projected_input, state):
    """One LSTM step; `projected_input` is input @ input_kernel + bias, `[B, 4h]`."""
    hidden, cell = state
    return recurrent.lstm_cell(
        projected_input + tf.matmul(hidden, self.recurrent_kernel), cell)

  def _gaussian(self, hidden):
    """`(loc, scale)` each `[..., d]` from hidden states `[..., h]`."""
    out = core.apply_kernel(hidden, self.output_kernel) + self.output_bias
    loc, raw_scale = tf.split(out, 2, axis=-1)
    return loc, tf.nn.softplus(raw_scale) + SCALE_FLOOR

  def _zero_state(self, batch_size):
    zeros = tf.zeros([batch_size, self.hidden_size])
    return zeros, zeros

  def conditionals(self, z):
    """Teacher-forced `(loc, scale)` of every step, each `[B, n, d]`."""
    z = tf.cast(z, tf.float32)
    batch_size = tf.shape(z)[0]
    start = tf.broadcast_to(self.start, [batch_size, 1, self.num_dims])
    inputs = tf.concat([start, z[:, :-1]], axis=1)                 # [B, n, d]
    projected = tf.einsum('bnd,dk->nbk', inputs, self.input_kernel) + self.bias
    hiddens = recurrent.lstm_sequence(projected, self.recurrent_kernel)
    return self._gaussian(tf.transpose(hiddens, [1, 0, 2]))

  def log_prob(self, z):
    """log p(z) `[B]` nats for z `[B, n, d]` (summed over steps and dims)."""
    z = tf.cast(z, tf.float32)
    loc, scale = self.conditionals(z)
    standardized = (z - loc) / scale
    log_density = (-0.5 * tf.square(standardized) - tf.math.log(scale)
                   - _HALF_LOG_TWO_PI)
    return tf.reduce_sum(log_density, axis=[1, 2])

  def nll_loss(self, z):
    """Mean negative log-likelihood per example (nats) with no gradient into z."""
    return -tf.reduce_mean(self.log_prob(tf.stop_gradient(z)))

  def sample(self, n, seed=None):
    """Ancestral samples `[n, num_steps, d]` float32, as `tfd.Distribution.sample`
    with an integer sample shape; `seed` (a keyword, as there) is int32 `[2]`."""
    if seed is None:
      raise ValueError('LSTMPrior.sample is stateless: pass seed=, an int32 [2] '
                       'tensor.')
    step_seeds = tf.random.experimental.stateless_split(seed, self.num_steps)

    def step(carry, step_seed):
      hidden, cell, previous = carry
      projected = tf.matmul(previous, self.input_kernel) + self.bias
      hidden, cell = self._cell(projected, (hidden, cell))
      loc, scale = self._gaussian(hidden)
      z = loc + scale * tf.random.stateless_normal(tf.shape(loc), step_seed)
      return hidden, cell, z

    hidden, cell = self._zero_state(n)
    start = tf.broadcast_to(self.start, [n, self.num_dims])
    _, _, z = tf.scan(step, step_seeds, initializer=(hidden, cell, start))
    return tf.transpose(z, [1, 0, 2])
