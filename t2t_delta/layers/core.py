"""Basic building blocks as `tf.Module`s: dense, layer norm, embedding, dropout,
convolution.

Variables are float32 and created in `__init__`; the computation runs in the dtype of
the input (variables are cast), so the same modules serve float32 and bfloat16.
"""

import contextlib
import math

import tensorflow as tf


def glorot_uniform(shape, fan_in, fan_out, seed):
  """Stateless Glorot-uniform initial value for a variable of `shape`."""
  limit = math.sqrt(6.0 / (fan_in + fan_out))
  return tf.random.stateless_uniform(shape, seed, -limit, limit, dtype=tf.float32)


class SeedSequence:
  """Hands out distinct stateless seeds for variable initialisation, from one int."""

  def __init__(self, seed):
    self._seed = int(seed)
    self._count = 0

  def __call__(self):
    self._count += 1
    return tf.constant([self._seed, self._count], tf.int32)


def default_init_seeds():
  return SeedSequence(0)


def add_bias(x, bias):
  """x [..., n] + bias [n] (cast to x.dtype), as `tf.nn.bias_add`.

  The same sum as `x + bias`; its bias gradient is one `BiasAddGrad` (several times
  faster on CPU than the broadcasting sum's reduction), and the add fuses into a
  preceding matmul or convolution.
  """
  return tf.nn.bias_add(x, tf.cast(bias, x.dtype))


def apply_kernel(x, kernel):
  """x [..., in] @ kernel [in, out] -> [..., out], as one 2-D matmul.

  Reshaping to 2-D keeps both the product and its kernel gradient a single GEMM;
  `tf.einsum('...i,io->...o')` lowers the kernel gradient to a broadcast-and-reduce
  that is tens of times slower on CPU.
  """
  kernel = tf.cast(kernel, x.dtype)
  if x.shape.rank == 2:
    return tf.matmul(x, kernel)
  leading = tf.shape(x)[:-1]
  y = tf.matmul(tf.reshape(x, [-1, kernel.shape[0]]), kernel)
  return tf.reshape(y, tf.concat([leading, [kernel.shape[1]]], axis=0))


class Dense(tf.Module):
  """y = x W + b over the last axis. x: [..., in_dim] -> [..., out_dim]."""

  def __init__(self, in_dim, out_dim, use_bias=True, init_scale=1.0, seeds=None,
               name=None):
    super().__init__(name=name)
    seeds = seeds or default_init_seeds()
    self.in_dim, self.out_dim = in_dim, out_dim
    self.kernel = tf.Variable(
        init_scale * glorot_uniform([in_dim, out_dim], in_dim, out_dim, seeds()),
        name='kernel')
    self.bias = tf.Variable(tf.zeros([out_dim]), name='bias') if use_bias else None

  def __call__(self, x):
    y = apply_kernel(x, self.kernel)
    if self.bias is not None:
      y = add_bias(y, self.bias)
    return y


class LayerNorm(tf.Module):
  """Layer normalisation over the last axis (statistics in float32)."""

  def __init__(self, dim, epsilon=1e-6, name=None):
    super().__init__(name=name)
    self.epsilon = epsilon
    self.scale = tf.Variable(tf.ones([dim]), name='scale')
    self.offset = tf.Variable(tf.zeros([dim]), name='offset')

  def __call__(self, x):
    x32 = tf.cast(x, tf.float32)
    mean, variance = tf.nn.moments(x32, axes=[-1], keepdims=True)
    y = (x32 - mean) * tf.math.rsqrt(variance + self.epsilon)
    return tf.cast(y * self.scale + self.offset, x.dtype)


class Embedding(tf.Module):
  """Token ids [...] -> vectors [..., dim]."""

  def __init__(self, vocab_size, dim, seeds=None, name=None):
    super().__init__(name=name)
    seeds = seeds or default_init_seeds()
    self.vocab_size, self.dim = vocab_size, dim
    self.table = tf.Variable(
        tf.random.stateless_normal([vocab_size, dim], seeds(), stddev=dim ** -0.5),
        name='table')

  def __call__(self, ids, dtype=tf.float32):
    return tf.cast(tf.gather(self.table, ids), dtype)


def dropout(x, rate, seed, training):
  """Inverted dropout with a stateless seed; identity when not training or rate == 0."""
  if not training or rate == 0.0:
    return x
  return tf.nn.experimental.stateless_dropout(x, rate=rate, seed=seed)


def split_seed(seed, num):
  """[2] int32 seed -> `num` independent [2] int32 seeds (a [num, 2] tensor)."""
  return tf.random.experimental.stateless_split(seed, num)


class Conv2D(tf.Module):
  """2-D convolution, NHWC: x [B, H, W, in] -> [B, H', W', out]; optional weight norm.

  With `weight_norm`, the kernel is `g * v / ||v||` with the norm taken per output
  channel over (height, width, input channels); `g` starts at `||v||`, so the
  initial function is the same as without weight normalisation (Glorot-uniform).
  Causal padding is the caller's: `layers.pixel`'s shifted convolutions pad their
  input and call this with `padding='VALID'`.

  Args:
    in_channels, out_channels: channel counts.
    kernel_size: `k` or `(kh, kw)`.
    strides, padding: as `tf.nn.conv2d`.
    weight_norm: reparameterise the kernel as above.
    init_scale: multiplies the initial kernel (e.g. small values for output layers).
    scoped_variable_names: create the variables under the module's name scope, so
      that their `.name` starts with the module's name (the pixel layers' names);
      otherwise they are plain `kernel`, `bias` (the names of the shipped
      `vae_conv` and `vlae_image` encoders).
    seeds: a `SeedSequence` for the initial values.
  """

  def __init__(self, in_channels, out_channels, kernel_size=3, strides=1, padding='SAME',
               weight_norm=False, init_scale=1.0, scoped_variable_names=False,
               seeds=None, name=None):
    super().__init__(name=name)
    seeds = seeds or default_init_seeds()
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    self.kernel_size = (int(kh), int(kw))
    self.in_channels, self.out_channels = int(in_channels), int(out_channels)
    self.strides, self.padding = strides, padding
    self.weight_norm = bool(weight_norm)
    fan_in, fan_out = kh * kw * in_channels, kh * kw * out_channels
    init = init_scale * glorot_uniform([kh, kw, in_channels, out_channels], fan_in,
                                       fan_out, seeds())
    with self.name_scope if scoped_variable_names else contextlib.nullcontext():
      self.kernel = tf.Variable(init, name='kernel')
      if self.weight_norm:
        self.gain = tf.Variable(tf.norm(tf.reshape(init, [-1, out_channels]), axis=0),
                                name='gain')
      self.bias = tf.Variable(tf.zeros([out_channels]), name='bias')

  def effective_kernel(self):
    """The float32 kernel actually applied, `[kh, kw, in, out]`."""
    if not self.weight_norm:
      return self.kernel
    norm = tf.sqrt(tf.reduce_sum(tf.square(self.kernel), axis=[0, 1, 2]) + 1e-12)
    return self.kernel * (self.gain / norm)

  def __call__(self, x):
    kernel = tf.cast(self.effective_kernel(), x.dtype)
    y = tf.nn.conv2d(x, kernel, self.strides, self.padding)
    return add_bias(y, self.bias)
