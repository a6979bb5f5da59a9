"""Multi-head dot-product attention with masks and an incremental (cached) form.

Shapes: queries come from `x` [B, Tq, Dq], keys and values from `memory` [B, Tk, Dk].
A boolean `mask` broadcastable to [B, heads, Tq, Tk] says which keys each query may
see (True = visible). Rows with no visible key produce zeros rather than NaN.

For incremental decoding, `keys_values(memory)` projects memory once into
(k, v) of shape [B, heads, Tk, head_dim] so that a cache can hold them, and `attend`
runs the attention of new queries against any (k, v).
"""

import tensorflow as tf

from t2t_delta.layers import core


def causal_mask(length, strict=False):
  """[T, T] bool: query i sees key j iff j <= i (j < i when strict)."""
  i = tf.range(length)[:, None]
  j = tf.range(length)[None, :]
  return j < i if strict else j <= i


def anti_causal_mask(length, strict=False):
  """[T, T] bool: query i sees key j iff j >= i (j > i when strict)."""
  return tf.transpose(causal_mask(length, strict))


def mask_bias(mask):
  """bool mask (True = visible) -> float32 additive logit bias: 0 or -1e9, same shape.

  Adding it leaves visible logits unchanged and gives hidden ones a softmax weight of
  exactly 0 (as long as the row has a visible key), without broadcasting the mask to
  the logits' shape.
  """
  return tf.where(mask, 0., -1e9)


class MultiHeadAttention(tf.Module):
  """Multi-head attention; dropout on the attention weights; output projection."""

  def __init__(self, query_dim, memory_dim, num_heads, key_dim=None, value_dim=None,
               output_dim=None, dropout_rate=0.0, seeds=None, name=None):
    super().__init__(name=name)
    key_dim = key_dim or query_dim
    value_dim = value_dim or key_dim
    output_dim = output_dim or query_dim
    if key_dim % num_heads or value_dim % num_heads:
      raise ValueError(f'key_dim {key_dim} and value_dim {value_dim} must be divisible '
                       f'by num_heads {num_heads}.')
    self.num_heads = num_heads
    self.key_head_dim = key_dim // num_heads
    self.value_head_dim = value_dim // num_heads
    self.dropout_rate = dropout_rate
    self.query = core.Dense(query_dim, key_dim, use_bias=False, seeds=seeds, name='query')
    self.key = core.Dense(memory_dim, key_dim, use_bias=False, seeds=seeds, name='key')
    self.value = core.Dense(memory_dim, value_dim, use_bias=False, seeds=seeds,
                            name='value')
    self.output = core.Dense(value_dim, output_dim, seeds=seeds, name='output')

  def _split_heads(self, x, head_dim):
    b, t = tf.shape(x)[0], tf.shape(x)[1]
    x = tf.reshape(x, [b, t, self.num_heads, head_dim])
    return tf.transpose(x, [0, 2, 1, 3])

  def keys_values(self, memory):
    """memory [B, Tk, Dk] -> (k [B, h, Tk, dk], v [B, h, Tk, dv])."""
    return (self._split_heads(self.key(memory), self.key_head_dim),
            self._split_heads(self.value(memory), self.value_head_dim))

  def attend(self, x, k, v, mask=None, training=False, seed=None):
    """Attention of queries x [B, Tq, Dq] over cached (k, v); returns [B, Tq, out]."""
    q = self._split_heads(self.query(x), self.key_head_dim)
    q *= tf.cast(self.key_head_dim ** -0.5, q.dtype)
    logits = tf.cast(tf.einsum('bhqd,bhkd->bhqk', q, k), tf.float32)
    if mask is not None:
      logits += mask_bias(mask)
    weights = tf.nn.softmax(logits, axis=-1)
    weights = core.dropout(weights, self.dropout_rate, seed, training)
    out = tf.einsum('bhqk,bhkd->bhqd', tf.cast(weights, v.dtype), v)
    if mask is not None:
      # A query that sees no key at all attends to nothing (output 0), not uniformly.
      out *= tf.cast(tf.reduce_any(mask, axis=-1, keepdims=True), out.dtype)
    b, tq = tf.shape(out)[0], tf.shape(out)[2]
    out = tf.reshape(tf.transpose(out, [0, 2, 1, 3]),
                     [b, tq, self.num_heads * self.value_head_dim])
    return self.output(out)

  def __call__(self, x, memory, mask=None, training=False, seed=None):
    k, v = self.keys_values(memory)
    return self.attend(x, k, v, mask=mask, training=training, seed=seed)
