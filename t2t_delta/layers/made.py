"""MADE: masked autoencoder for distribution estimation (Germain et al., 2015).

A MADE is a fully connected network over a vector `x` `[..., d]` whose output for
dimension `i` depends only on the dimensions that come *before* `i` in a chosen
ordering. It is the building block of the autoregressive flows in
`t2t_delta.distributions.flows`: the inverse autoregressive flow posterior (IAF,
Kingma et al. 2016, §4) and the autoregressive flow prior of the VLAE (Chen et al.
2017, §3).

Masks. Every input dimension gets a degree, its 1-based position in the ordering.
Hidden units get degrees in `[1, d - 1]` (assigned cyclically, so every degree is
represented), and

    input j  -> hidden k   allowed when  deg(k) >= deg(j)
    hidden k -> hidden k'  allowed when  deg(k') >= deg(k)
    hidden k -> output i   allowed when  deg(i) >  deg(k)

so output `i` is a function of the inputs of degree `< deg(i)` only. The output of
the first dimension in the ordering depends on no input at all (only on the biases and
the optional context). The masks are constants multiplied into the kernels in every
call, so the structure holds after any optimiser step.

Context. An optional context vector `h` `[..., c]` (e.g. the encoder's features in an
IAF posterior) enters every hidden layer and the output layer through unmasked dense
layers, so it affects every output, including the first one in the ordering.
"""

import numpy as np
import tensorflow as tf

from t2t_delta.layers import core

ORDERINGS = ('left_to_right', 'right_to_left')


def ordering_degrees(num_dims, ordering='left_to_right'):
  """Degrees `[d]` (1-based positions in the autoregressive order) of the inputs.

  Args:
    num_dims: d.
    ordering: 'left_to_right' (dimension 0 first), 'right_to_left' (dimension d - 1
      first) or a permutation of `range(d)` listing the dimensions in order.
  """
  if isinstance(ordering, str):
    if ordering == 'left_to_right':
      return np.arange(1, num_dims + 1)
    if ordering == 'right_to_left':
      return np.arange(num_dims, 0, -1)
    raise ValueError(f'ordering must be one of {ORDERINGS} or a permutation, got '
                     f'{ordering!r}.')
  order = np.asarray(ordering, np.int64)
  if sorted(order.tolist()) != list(range(num_dims)):
    raise ValueError(f'ordering must be a permutation of range({num_dims}), got '
                     f'{order.tolist()}.')
  degrees = np.empty([num_dims], np.int64)
  degrees[order] = np.arange(1, num_dims + 1)
  return degrees


def alternating_orderings(num_steps, first='left_to_right'):
  """Orderings of `num_steps` stacked flow steps, reversed between consecutive steps."""
  other = 'right_to_left' if first == 'left_to_right' else 'left_to_right'
  return [first if i % 2 == 0 else other for i in range(num_steps)]


def hidden_degrees(num_dims, size):
  """Cyclic degrees in `[1, max(d - 1, 1)]` for a hidden layer of `size` units."""
  top = max(num_dims - 1, 1)
  return np.arange(size) % top + 1


def made_masks(input_degrees, hidden_sizes):
  """Float32 masks `[in, out]` of every layer: input->hidden..., hidden->output.

  Returns:
    `(masks, output_degrees)`: a list of `len(hidden_sizes) + 1` arrays and the
    degrees of the outputs (equal to the input degrees).
  """
  d = len(input_degrees)
  degrees = [np.asarray(input_degrees)]
  masks = []
  for size in hidden_sizes:
    h = hidden_degrees(d, size)
    masks.append((h[None, :] >= degrees[-1][:, None]).astype(np.float32))
    degrees.append(h)
  masks.append((np.asarray(input_degrees)[None, :] > degrees[-1][:, None])
               .astype(np.float32))
  return masks, np.asarray(input_degrees)


class MaskedDense(tf.Module):
  """Dense layer `[..., in] -> [..., out]` whose kernel is multiplied by a fixed mask."""

  def __init__(self, mask, init_scale=1.0, seeds=None, name=None):
    super().__init__(name=name)
    seeds = seeds or core.default_init_seeds()
    in_dim, out_dim = mask.shape
    self.mask = tf.constant(mask, tf.float32)
    with self.name_scope:
      self.kernel = tf.Variable(
          init_scale * core.glorot_uniform([in_dim, out_dim], in_dim, out_dim, seeds()),
          name='kernel')
      self.bias = tf.Variable(tf.zeros([out_dim]), name='bias')

  def __call__(self, x):
    kernel = tf.cast(self.kernel * self.mask, x.dtype)
    return tf.einsum('...i,io->...o', x, kernel) + tf.cast(self.bias, x.dtype)


class MADE(tf.Module):
  """Autoregressive network `x [..., d] (, context [..., c]) -> [..., d, num_outputs]`.

  Output `[..., i, :]` depends on `x[..., j]` only for `j` before `i` in `ordering`
  (and on the whole context).

  Args:
    num_dims: d.
    hidden_sizes: widths of the hidden layers (ELU activations).
    num_outputs: parameters per dimension (2 for an affine flow: shift, log-scale).
    ordering: see `ordering_degrees`.
    context_size: c, or None for no context.
    output_init_scale: scale of the output layer's initial kernel; small values
      start a flow near the identity.
    seeds: `core.SeedSequence` for the initial values.
  """

  def __init__(self, num_dims, hidden_sizes=(64, 64), num_outputs=2,
               ordering='left_to_right', context_size=None, output_init_scale=0.01,
               seeds=None, name=None):
    super().__init__(name=name)
    seeds = seeds or core.default_init_seeds()
    if num_dims < 1:
      raise ValueError(f'num_dims must be >= 1, got {num_dims}.')
    if not hidden_sizes:
      raise ValueError('MADE needs at least one hidden layer.')
    self.num_dims, self.num_outputs = int(num_dims), int(num_outputs)
    self.degrees = ordering_degrees(self.num_dims, ordering)
    self.ordering = ordering
    masks, _ = made_masks(self.degrees, hidden_sizes)
    # The output layer emits num_outputs values per dimension, laid out [d, P].
    masks[-1] = np.repeat(masks[-1][:, :, None], self.num_outputs, axis=2).reshape(
        masks[-1].shape[0], -1)
    with self.name_scope:
      self.layers = [MaskedDense(m, seeds=seeds, name=f'masked_{i}')
                     for i, m in enumerate(masks[:-1])]
      self.output_layer = MaskedDense(masks[-1], init_scale=output_init_scale,
                                      seeds=seeds, name='masked_output')
      self.context_layers = (
          [core.Dense(context_size, size, seeds=seeds, name=f'context_{i}')
           for i, size in enumerate(hidden_sizes)] if context_size else None)
      # The first dimension in the ordering sees no hidden unit (they all have
      # degree >= 1), so the context also reaches the outputs directly.
      self.context_output = (
          core.Dense(context_size, self.num_dims * self.num_outputs,
                     init_scale=output_init_scale, seeds=seeds, name='context_output')
          if context_size else None)

  def __call__(self, x, context=None):
    if (context is None) != (self.context_layers is None):
      raise ValueError('MADE built with context_size needs a context, and one built '
                       'without cannot take one.')
    h = x
    for i, layer in enumerate(self.layers):
      h = layer(h)
      if context is not None:
        h += self.context_layers[i](tf.cast(context, h.dtype))
      h = tf.nn.elu(h)
    out = self.output_layer(h)
    if context is not None:
      out += self.context_output(tf.cast(context, out.dtype))
    shape = tf.concat([tf.shape(out)[:-1], [self.num_dims, self.num_outputs]], 0)
    return tf.reshape(out, shape)
