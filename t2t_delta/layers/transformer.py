"""Transformer blocks, encoder and decoder stacks for token sequences, with a KV cache.

Layout (Vaswani et al. 2017, in the pre-layer-norm arrangement used by Tensor2Tensor):
every sub-layer computes `x + dropout(f(layer_norm(x)))`, and each stack ends with a
final layer norm. Pre-LN trains stably without a long warm-up and keeps the residual
stream an exact sum of the sub-layers, which makes the incremental (cached) form easy to
check against the full one. The feed-forward sub-layer is `relu(x W1) W2` with dropout on
the relu activations.

Inputs are token ids embedded with `Embedding` (scaled by sqrt(hidden_size)) plus fixed
sinusoidal position encodings, followed by dropout. The decoder's output projection
shares the token embedding table (as in the Transformer).

Masks are boolean, True = visible:

* `TransformerEncoder` takes `structure`: 'anti_causal' (query t sees keys s >= t, the
  inverted causal mask of the δ-VAE text encoder), 'causal' (s <= t) or 'non_causal'
  (all keys).
* `TransformerDecoder` self-attention is causal (s <= t). Its optional cross-attention
  to a conditioning `memory` [B, Tm, Dm] is unmasked or, with `memory_causal=True`
  (which needs Tm == T), causal: decoder position t sees memory positions s <= t.
* Keys at padded positions (`padding` [B, T] bool, True = padding) are never visible.

Incremental decoding: `TransformerDecoder.init_cache` pre-allocates, per layer, the
self-attention keys and values [B, heads, T_max, head_dim] (static shapes) and projects
the memory once into cross-attention keys and values; `step(ids, t, cache)` runs one
position through the stack, writes its keys/values at index t (a select against a
position mask, no dynamic shapes) and returns the logits of that position. Everything
has static shapes, so the step can run inside a compiled `tf.while_loop`.

Randomness (dropout) is stateless: `seed` [2] int32 is folded with a fixed index per
dropout site, so equal seeds give equal masks.
"""

import math

import numpy as np
import tensorflow as tf

from t2t_delta.layers import attention
from t2t_delta.layers import core

ENCODER_STRUCTURES = ('anti_causal', 'non_causal', 'causal')


def sinusoidal_positions(length, dim):
  """[length, dim] float32 sinusoidal position encodings (sin on even, cos on odd)."""
  position = np.arange(length, dtype=np.float64)[:, None]
  half = dim // 2
  timescales = np.exp(-math.log(10000.0) * np.arange(half, dtype=np.float64) /
                      max(half - 1, 1))
  angles = position * timescales[None, :]
  table = np.zeros([length, dim], np.float64)
  table[:, 0:2 * half:2] = np.sin(angles)
  table[:, 1:2 * half:2] = np.cos(angles)
  return tf.constant(table, tf.float32)


def _site_seed(seed, index):
  """A distinct [2] seed for dropout site `index` (a Python int) from `seed`."""
  if seed is None:
    return None
  return tf.random.experimental.stateless_fold_in(seed, index)


def encoder_mask(structure, length):
  """[T, T] bool self-attention mask of an encoder with the given structure."""
  if structure == 'anti_causal':
    return attention.anti_causal_mask(length)
  if structure == 'causal':
    return attention.causal_mask(length)
  if structure == 'non_causal':
    return tf.ones([length, length], tf.bool)
  raise ValueError(f'unknown encoder structure {structure!r}; valid: '
                   f'{", ".join(ENCODER_STRUCTURES)}.')


def key_padding_mask(padding):
  """padding [B, Tk] bool (True = pad) -> [B, 1, 1, Tk] bool visibility of keys."""
  return tf.logical_not(padding)[:, None, None, :]


def _and(a, b):
  if a is None:
    return b
  if b is None:
    return a
  return tf.logical_and(a, b)


class FeedForward(tf.Module):
  """relu(x W1 + b1) W2 + b2, dropout on the relu activations."""

  def __init__(self, hidden_size, filter_size, dropout_rate, seeds, name=None):
    super().__init__(name=name)
    self.dropout_rate = dropout_rate
    self.inner = core.Dense(hidden_size, filter_size, seeds=seeds, name='inner')
    self.outer = core.Dense(filter_size, hidden_size, seeds=seeds, name='outer')

  def __call__(self, x, training=False, seed=None):
    h = tf.nn.relu(self.inner(x))
    h = core.dropout(h, self.dropout_rate, seed, training)
    return self.outer(h)


class TransformerBlock(tf.Module):
  """Pre-LN block: self-attention, optional cross-attention, feed-forward.

  Args:
    hidden_size: model width.
    filter_size: feed-forward inner width.
    num_heads: attention heads (must divide hidden_size).
    dropout_rate: residual, attention-weight and relu dropout.
    memory_dim: width of the cross-attention memory, or None for no cross-attention.
    seeds: `core.SeedSequence` for initial values.
  """

  def __init__(self, hidden_size, filter_size, num_heads, dropout_rate,
               memory_dim=None, seeds=None, name=None):
    super().__init__(name=name)
    seeds = seeds or core.default_init_seeds()
    self.dropout_rate = dropout_rate
    self.self_norm = core.LayerNorm(hidden_size, name='self_attention_norm')
    self.self_attention = attention.MultiHeadAttention(
        hidden_size, hidden_size, num_heads, dropout_rate=dropout_rate, seeds=seeds,
        name='self_attention')
    self.has_memory = memory_dim is not None
    if self.has_memory:
      self.cross_norm = core.LayerNorm(hidden_size, name='cross_attention_norm')
      self.cross_attention = attention.MultiHeadAttention(
          hidden_size, memory_dim, num_heads, key_dim=hidden_size,
          dropout_rate=dropout_rate, seeds=seeds, name='cross_attention')
    self.ffn_norm = core.LayerNorm(hidden_size, name='ffn_norm')
    self.ffn = FeedForward(hidden_size, filter_size, dropout_rate, seeds, name='ffn')

  def _residual(self, x, y, training, seed):
    return x + core.dropout(y, self.dropout_rate, seed, training)

  def __call__(self, x, self_mask=None, memory=None, memory_mask=None,
               training=False, seed=None):
    """x [B, T, H] -> [B, T, H]; masks broadcastable to [B, heads, T, Tk]."""
    y = self.self_norm(x)
    y = self.self_attention(y, y, mask=self_mask, training=training,
                            seed=_site_seed(seed, 0))
    x = self._residual(x, y, training, _site_seed(seed, 1))
    if self.has_memory:
      y = self.cross_attention(self.cross_norm(x), memory, mask=memory_mask,
                               training=training, seed=_site_seed(seed, 2))
      x = self._residual(x, y, training, _site_seed(seed, 3))
    y = self.ffn(self.ffn_norm(x), training=training, seed=_site_seed(seed, 4))
    return self._residual(x, y, training, _site_seed(seed, 5))

  def step(self, x, t, layer_cache, self_mask, memory_mask=None):
    """One position x [B, 1, H] at index t, inference mode; returns (x, layer_cache).

    `layer_cache` holds 'k', 'v' [B, heads, T_max, head_dim] (self-attention, filled
    for positions < t) and, with cross-attention, 'memory_k', 'memory_v'.
    `self_mask` [1, 1, 1, T_max] marks the cached positions <= t.
    """
    y = self.self_norm(x)
    k_new, v_new = self.self_attention.keys_values(y)          # [B, h, 1, d]
    length = layer_cache['k'].shape[2]
    at_t = tf.equal(tf.range(length), t)[None, None, :, None]
    k = tf.where(at_t, k_new, layer_cache['k'])
    v = tf.where(at_t, v_new, layer_cache['v'])
    new_cache = dict(layer_cache, k=k, v=v)
    y = self.self_attention.attend(y, k, v, mask=self_mask)
    x = x + y
    if self.has_memory:
      y = self.cross_attention.attend(self.cross_norm(x), layer_cache['memory_k'],
                                      layer_cache['memory_v'], mask=memory_mask)
      x = x + y
    return x + self.ffn(self.ffn_norm(x)), new_cache


class _TokenInput(tf.Module):
  """Token embedding * sqrt(H) + sinusoidal positions, then dropout."""

  def __init__(self, vocab_size, hidden_size, max_length, seeds, name=None):
    super().__init__(name=name)
    self.hidden_size = hidden_size
    self.embedding = core.Embedding(vocab_size, hidden_size, seeds=seeds,
                                    name='embedding')
    self.positions = sinusoidal_positions(max_length, hidden_size)

  def embed(self, ids, dtype):
    return self.embedding(ids, dtype) * tf.cast(math.sqrt(self.hidden_size), dtype)

  def __call__(self, ids, dtype):
    """ids [B, T] -> [B, T, H]."""
    length = ids.shape[1]
    return self.embed(ids, dtype) + tf.cast(self.positions[:length], dtype)

  def at(self, ids, t, dtype):
    """ids [B] at position t -> [B, 1, H]."""
    pos = tf.gather(self.positions, t)
    return (self.embed(ids, dtype) + tf.cast(pos, dtype))[:, None, :]


class TransformerEncoder(tf.Module):
  """Token ids [B, T] -> contextual states [B, T, H] under a structural mask.

  Args:
    vocab_size, max_length: token vocabulary and longest sequence.
    num_layers, hidden_size, filter_size, num_heads, dropout_rate: as in Vaswani et al.
    structure: 'anti_causal' (position t sees tokens >= t), 'non_causal' (all tokens)
      or 'causal' (tokens <= t).
    seeds: `core.SeedSequence` for initial values.
  """

  def __init__(self, vocab_size, max_length, num_layers, hidden_size, filter_size,
               num_heads, dropout_rate=0.0, structure='anti_causal', seeds=None,
               name=None):
    super().__init__(name=name)
    if structure not in ENCODER_STRUCTURES:
      raise ValueError(f'unknown encoder structure {structure!r}; valid: '
                       f'{", ".join(ENCODER_STRUCTURES)}.')
    seeds = seeds or core.default_init_seeds()
    self.structure = structure
    self.max_length = max_length
    self.dropout_rate = dropout_rate
    self.input_layer = _TokenInput(vocab_size, hidden_size, max_length, seeds,
                                   name='input')
    self.blocks = [
        TransformerBlock(hidden_size, filter_size, num_heads, dropout_rate,
                         seeds=seeds, name=f'block_{i}') for i in range(num_layers)]
    self.final_norm = core.LayerNorm(hidden_size, name='final_norm')

  def __call__(self, ids, padding=None, input_offset=None, training=False, seed=None,
               dtype=tf.float32):
    """ids [B, T] int32, padding [B, T] bool (True = pad) -> [B, T, H].

    `input_offset` [B, T, H], if given, is added to the input embeddings.
    """
    x = self.input_layer(ids, dtype)
    if input_offset is not None:
      x += tf.cast(input_offset, dtype)
    x = core.dropout(x, self.dropout_rate, _site_seed(seed, 0), training)
    mask = encoder_mask(self.structure, ids.shape[1])[None, None]
    if padding is not None:
      mask = _and(mask, key_padding_mask(padding))
    for i, block in enumerate(self.blocks):
      x = block(x, self_mask=mask, training=training, seed=_site_seed(seed, i + 1))
    return self.final_norm(x)


class TransformerDecoder(tf.Module):
  """Causal Transformer language model over shifted inputs, with optional memory.

  `__call__(inputs)` takes the decoder inputs [B, T] (the targets shifted right by one,
  with a start id at position 0) and returns logits [B, T, V] where position t predicts
  target t from inputs <= t, i.e. from targets < t.

  Args:
    vocab_size, max_length: vocabulary and T_max (the cache length).
    num_layers, hidden_size, filter_size, num_heads, dropout_rate: as in Vaswani et al.
    memory_dim: width of the conditioning sequence for cross-attention (None: none).
    memory_causal: decoder position t only sees memory positions <= t (memory must be
      aligned with the decoder positions, Tm == T).
    seeds: `core.SeedSequence` for initial values.
  """

  def __init__(self, vocab_size, max_length, num_layers, hidden_size, filter_size,
               num_heads, dropout_rate=0.0, memory_dim=None, memory_causal=False,
               seeds=None, name=None):
    super().__init__(name=name)
    seeds = seeds or core.default_init_seeds()
    self.vocab_size = vocab_size
    self.max_length = max_length
    self.hidden_size = hidden_size
    self.num_heads = num_heads
    self.dropout_rate = dropout_rate
    self.memory_dim = memory_dim
    self.memory_causal = memory_causal
    self.input_layer = _TokenInput(vocab_size, hidden_size, max_length, seeds,
                                   name='input')
    self.blocks = [
        TransformerBlock(hidden_size, filter_size, num_heads, dropout_rate,
                         memory_dim=memory_dim, seeds=seeds, name=f'block_{i}')
        for i in range(num_layers)]
    self.final_norm = core.LayerNorm(hidden_size, name='final_norm')
    self.output_bias = tf.Variable(tf.zeros([vocab_size]), name='output_bias')

  # ---- shared pieces ------------------------------------------------------------------
  def output_logits(self, h):
    """Final states [..., H] -> logits [..., V] (tied to the embedding table)."""
    table = tf.cast(self.input_layer.embedding.table, h.dtype)
    # One 2-D product against the table as stored ([V, H], transpose_b): its gradients
    # are plain products too, with no transposed copy of the table either way (an
    # ellipsis einsum's gradient is very slow in TF 2.21; tensordot transposes).
    logits = tf.matmul(tf.reshape(h, [-1, self.hidden_size]), table, transpose_b=True)
    logits = core.add_bias(logits, self.output_bias)
    return tf.reshape(logits, tf.concat([tf.shape(h)[:-1], [self.vocab_size]], axis=0))

  def _memory_mask(self, query_length, memory_length, memory_padding):
    mask = None
    if self.memory_causal:
      if memory_length != query_length:
        raise ValueError(f'memory_causal needs memory length {memory_length} equal to '
                         f'the decoder length {query_length}.')
      mask = attention.causal_mask(query_length)[None, None]
    if memory_padding is not None:
      mask = _and(mask, key_padding_mask(memory_padding))
    return mask

  def _check_memory(self, memory):
    if (memory is None) != (self.memory_dim is None):
      raise ValueError('memory must be given exactly when the decoder was built with '
                       f'memory_dim (memory_dim={self.memory_dim}).')

  # ---- full (teacher-forced) pass -----------------------------------------------------
  def hidden(self, inputs, padding=None, memory=None, memory_padding=None,
             input_offset=None, training=False, seed=None, dtype=tf.float32):
    """Final states [B, T, H] for decoder inputs [B, T].

    Args:
      inputs: int32 [B, T] decoder inputs (targets shifted right).
      padding: optional bool [B, T], True where the *position* is padding; those keys
        are hidden from every query.
      memory: [B, Tm, Dm] conditioning sequence (when built with memory_dim).
      memory_padding: optional bool [B, Tm], True at memory positions to hide.
      input_offset: optional [B, T, H] added to the input embeddings (e.g. a
        per-position conditioning vector).
    """
    self._check_memory(memory)
    length = inputs.shape[1]
    x = self.input_layer(inputs, dtype)
    if input_offset is not None:
      x += tf.cast(input_offset, dtype)
    x = core.dropout(x, self.dropout_rate, _site_seed(seed, 0), training)
    self_mask = attention.causal_mask(length)[None, None]
    if padding is not None:
      self_mask = _and(self_mask, key_padding_mask(padding))
    memory_mask = None
    if memory is not None:
      memory = tf.cast(memory, dtype)
      memory_mask = self._memory_mask(length, memory.shape[1], memory_padding)
    for i, block in enumerate(self.blocks):
      x = block(x, self_mask=self_mask, memory=memory, memory_mask=memory_mask,
                training=training, seed=_site_seed(seed, i + 1))
    return self.final_norm(x)

  def __call__(self, inputs, padding=None, memory=None, memory_padding=None,
               input_offset=None, training=False, seed=None, dtype=tf.float32):
    """Logits [B, T, V] for decoder inputs [B, T]; see `hidden` for the arguments."""
    return self.output_logits(self.hidden(
        inputs, padding=padding, memory=memory, memory_padding=memory_padding,
        input_offset=input_offset, training=training, seed=seed, dtype=dtype))

  # ---- incremental decoding -----------------------------------------------------------
  def init_cache(self, batch_size, memory=None, memory_padding=None,
                 dtype=tf.float32):
    """Empty cache for decoding `max_length` positions of `batch_size` sequences.

    Returns a dict of tensors (a nest usable as `tf.while_loop` state):
      'layers': per block {'k', 'v': zeros [B, heads, T_max, head_dim]} plus, with
        memory, {'memory_k', 'memory_v': [B, heads, Tm, head_dim]} computed once;
      'memory_visible': [B, 1, 1, Tm] bool (with memory) visibility of memory keys.
    """
    self._check_memory(memory)
    head_dim = self.hidden_size // self.num_heads
    shape = [batch_size, self.num_heads, self.max_length, head_dim]
    layers = []
    for block in self.blocks:
      layer = {'k': tf.zeros(shape, dtype), 'v': tf.zeros(shape, dtype)}
      if memory is not None:
        k, v = block.cross_attention.keys_values(tf.cast(memory, dtype))
        layer['memory_k'], layer['memory_v'] = k, v
      layers.append(layer)
    cache = {'layers': layers}
    if memory is not None:
      memory_length = memory.shape[1]
      if self.memory_causal and memory_length != self.max_length:
        raise ValueError(f'memory_causal needs memory length {memory_length} equal '
                         f'to max_length {self.max_length}.')
      if memory_padding is None:
        visible = tf.ones([batch_size, memory_length], tf.bool)
      else:
        visible = tf.logical_not(memory_padding)
      cache['memory_visible'] = visible[:, None, None, :]
    return cache

  def step(self, ids, t, cache, input_offset=None, dtype=tf.float32):
    """Runs decoder input position t (inference mode).

    Args:
      ids: int32 [B], the decoder input at position t (the target at t - 1, or the
        start id when t == 0).
      t: int32 scalar position, 0 <= t < max_length.
      cache: from `init_cache` or a previous `step`; positions < t filled.
      input_offset: optional [B, H] added to the input embedding at t.

    Returns:
      (logits [B, V] predicting the target at position t, updated cache).
    """
    t = tf.convert_to_tensor(t, tf.int32)
    x = self.input_layer.at(ids, t, dtype)
    if input_offset is not None:
      x += tf.cast(input_offset, dtype)[:, None, :]
    self_mask = (tf.range(self.max_length) <= t)[None, None, None, :]
    memory_mask = None
    if 'memory_visible' in cache:
      memory_mask = cache['memory_visible']
      if self.memory_causal:
        memory_mask = tf.logical_and(
            memory_mask, (tf.range(self.max_length) <= t)[None, None, None, :])
    layers = []
    for block, layer_cache in zip(self.blocks, cache['layers']):
      x, layer_cache = block.step(x, t, layer_cache, self_mask, memory_mask)
      layers.append(layer_cache)
    logits = self.output_logits(self.final_norm(x))[:, 0, :]
    return logits, dict(cache, layers=layers)
