"""PixelSNAIL-like image networks: gated causal convolutions with interleaved attention.

`PixelSnail` is the decoder of the image models (and, on the reversed image, the
anti-causal encoder); `NonCausalImageNet` is its unmasked counterpart for the
non-causal encoder ablation.

Layout of `PixelSnail` with `num_layers = l` and `num_attention_layers = a`:

    vertical, horizontal = CausalInput(x)
    for layer in 1..l:
      vertical   = GatedResidualBlock[down-shifted 2x3](vertical)
      horizontal = GatedResidualBlock[down-right-shifted 2x2](horizontal, aux=vertical)
      if an attention block follows this layer:          # a of them, evenly spaced,
        horizontal = LayerNorm(horizontal + SelfAttention(...))        # the last one
        horizontal = LayerNorm(horizontal + CrossAttention(...))       # after layer l
    output = 1x1(elu(horizontal))

Self-attention runs over the `H * W` pixels in raster order. As in PixelSNAIL its
keys and values are computed from the horizontal stack, the original image `x` and
fixed position features, and its queries from the horizontal stack and the position
features. The keys at pixel `q` contain `x[q]` itself, so the mask is *strictly*
causal (`attention.causal_mask(H * W, strict=True)`): the query at `p` sees keys
`q < p` only, whose content depends on pixels `<= q < p`. The first pixel sees no key
and receives zeros. The vertical stack is never updated by attention, because its
features at row `i` must not depend on row `i` (they are read by later rows through
the down-shifted convolutions, and by the horizontal stack at the same position).

Cross-attention (optional) lets every pixel attend to a conditioning sequence
`condition` `[B, L, D]` (in the image models: one latent vector per image row, with
its row index). Which entries a pixel in row `r` may see is `condition_structure`:

* 'causal' (the δ-VAE with an anti-causal encoder): latent rows `t <= r`. The
  encoder computes the latent of row `t` from image rows `>= t`, i.e. it summarises
  the present and the future, which is what an autoregressive decoder cannot see
  (paper §2.2: encoding the past is wasteful, the decoder has it already). The
  generative model is then a sequential latent-variable model in which `z_t` enters
  at row `t` and stays available to every later row, like the AR(1) prior itself,
  which is causal over rows: `z_t ~ p(z_t | z_{t-1})`, then
  `x_t ~ p(x_t | x_<t, z_<=t)`. Each latent is paid for once in KL and reused by
  the decoder at its own row and at all later rows, which is the coding-efficiency
  argument of §2.2; and the paper's appendix E.1 states that "the decoder-encoder
  attention is causally masked to realize the anti-causal inference structure".
  Row `t` includes itself (non-strict mask): `z_t` carries information about row
  `t`, which is the decoder's current target.
* 'full' (the non-causal ablation): every pixel sees every latent row.
* 'anti_causal': latent rows `t >= r` (offered for experiments only).

Any of these is a valid likelihood p(x | z), because z is sampled whole before x.
With `num_attention_layers = 0` and a condition, a single cross-attention block
follows the last convolutional layer.

Row conditioning (optional, `row_condition_size`): a second input `row_condition`
`[B, H, D_r]`, one vector per image row, is added to the gates of every gated block
of both stacks at its own row (broadcast over the columns), as in the conditional
Gated PixelCNN. Row `r` of either stack reads `row_condition[:, r]` directly and the
vectors of earlier rows through the stacks' causal convolutions, so a pixel in row
`r` depends on rows `<= r` of it: causal in rows, like the 'causal' cross-attention.
The image models use it to feed the latent of each row into the decoder from its
first layer on (a departure from the paper, whose decoder reads z through attention
only).

Dropout (training only) applies to the hidden activations of every gated block, to
the attention weights and to the attention outputs before the residual sum; layer
normalisation follows every attention block.

Incremental evaluation (inference; the protocol of `t2t_delta.layers.incremental`):
`init_cache`, `start_row`, `step` and `append` compute the output at one pixel at a
time. The convolutional stacks are cached as in `pixel.IncrementalStacks`, and

* causal self-attention: the keys and values of every generated pixel are written
  into a cache pre-allocated over all `H * W` positions by `append`, once the pixel
  is known (they include its value; `step` keeps the block's input at the pixel
  for this); the query at `p` attends with the same strictly causal mask (keys
  `< p`) as the full network;
* cross-attention to the condition: its keys and values are computed once by
  `init_cache`; the query at `p` uses row `p` of the same condition mask;
* row conditioning: row `r`'s vector is read by the gated blocks of row `r`.

Per pixel this is the work of about two positions (one horizontal, one amortised
vertical) plus the attention reads, instead of `H * W` positions.
"""

import tensorflow as tf

from t2t_delta.layers import attention
from t2t_delta.layers import core
from t2t_delta.layers import pixel

CONDITION_STRUCTURES = ('causal', 'full', 'anti_causal')


def attention_layer_indices(num_layers, num_attention_layers):
  """Indices of the conv layers (0-based) that an attention block follows.

  `a` blocks are spread evenly, the last one after the last layer (as PixelSNAIL
  ends every block with attention). Returns a sorted tuple of distinct indices.
  """
  if num_attention_layers < 0 or num_attention_layers > max(num_layers, 0):
    raise ValueError(f'num_attention_layers must be in [0, num_layers={num_layers}], '
                     f'got {num_attention_layers}.')
  if num_attention_layers == 0:
    return ()
  return tuple(sorted({(k + 1) * num_layers // num_attention_layers - 1
                       for k in range(num_attention_layers)}))


def condition_mask(height, width, condition_length, structure):
  """`[H*W, L]` bool mask of which condition rows each pixel sees, or None for 'full'.

  Pixel `p` lies in row `r = p // W`; 'causal' allows condition positions `t <= r`,
  'anti_causal' `t >= r`.
  """
  if structure not in CONDITION_STRUCTURES:
    raise ValueError(f'condition_structure must be one of {CONDITION_STRUCTURES}, '
                     f'got {structure!r}.')
  if structure == 'full':
    return None
  rows = pixel.row_of_position(height, width)[:, None]
  t = tf.range(condition_length)[None, :]
  return t <= rows if structure == 'causal' else t >= rows


def _broadcast_position(position, like):
  return tf.broadcast_to(position, tf.concat([tf.shape(like)[:-1],
                                              [position.shape[-1]]], 0))


def self_attention_memory(horizontal, x, position):
  """Keys/values source of causal self-attention: `[horizontal, x, position]`.

  Works per pixel, so an incremental sampler can build the memory row of a pixel
  once the pixel is known: `horizontal` `[B, ..., h]`, `x` `[B, ..., C]` and
  `position` (broadcast over the batch) with the same middle dimensions.
  """
  return tf.concat([horizontal, x, _broadcast_position(position, x)], axis=-1)


def _cache_dtype(cache):
  """The compute dtype of an incremental cache (`PixelSnail.init_cache`)."""
  return cache['stacks']['above'].dtype


def _layer_seeds(seed, count, training):
  if not training or seed is None or count == 0:
    return [None] * count
  return tf.unstack(core.split_seed(seed, count))


class AttentionBlock(tf.Module):
  """LayerNorm(h + dropout(MHA(concat(h, pos), memory))) over flattened pixels.

  Args:
    hidden_size: channels of `h` (also the attention key/value size).
    memory_size: channels of the memory passed to `__call__`.
    num_heads: attention heads (must divide `hidden_size`).
    num_position_channels: channels of the position features appended to queries.
    attention_dropout_rate: dropout on the attention weights.
    dropout_rate: dropout on the attention output.
  """

  def __init__(self, hidden_size, memory_size, num_heads, num_position_channels=2,
               attention_dropout_rate=0.0, dropout_rate=0.0, seeds=None, name=None):
    super().__init__(name=name)
    self.dropout_rate = float(dropout_rate)
    with self.name_scope:
      self.attention = attention.MultiHeadAttention(
          hidden_size + num_position_channels, memory_size, num_heads,
          key_dim=hidden_size, value_dim=hidden_size, output_dim=hidden_size,
          dropout_rate=attention_dropout_rate, seeds=seeds, name='attention')
      self.norm = core.LayerNorm(hidden_size, name='norm')

  def __call__(self, h, position, memory, mask=None, training=False, seed=None):
    """h `[B, H, W, hidden]`, position `[1, H, W, P]`, memory `[B, T, memory_size]`."""
    _, height, width, _ = h.shape
    queries = tf.concat([h, _broadcast_position(position, h)], axis=-1)
    seeds = core.split_seed(seed, 2) if training and seed is not None else [None, None]
    out = self.attention(pixel.flatten_pixels(queries), memory, mask=mask,
                         training=training, seed=seeds[0])
    out = core.dropout(out, self.dropout_rate, seeds[1], training)
    return self.norm(h + pixel.unflatten_pixels(out, height, width))

  # ---- incremental evaluation (inference) -------------------------------------------
  def keys_values(self, memory):
    """memory `[B, T, memory_size]` -> cacheable (k, v) `[B, heads, T, head_dim]`."""
    return self.attention.keys_values(memory)

  def attend_cached(self, h, position, k, v, mask=None):
    """The block for a few query pixels against cached keys and values.

    Args:
      h: `[B, T, hidden]` the stack at the query pixels (flattened).
      position: `[1, T, P]` their position features.
      k, v: `[B, heads, Tk, head_dim]`, e.g. a pre-allocated cache over all pixels.
      mask: bool, broadcastable to `[B, heads, T, Tk]`.

    Equals `__call__` (without dropout) at those pixels when (k, v) hold the
    projections of the same memory rows that `mask` lets them see.
    """
    queries = tf.concat([h, _broadcast_position(position, h)], axis=-1)
    return self.norm(h + self.attention.attend(queries, k, v, mask=mask))


def self_attention_blocks(after, hidden_size, channels, num_heads,
                          attention_dropout_rate, dropout_rate, seeds):
  """{str(layer index): AttentionBlock} over the features, the input pixels and the two
  position channels (`hidden + C + 2` wide keys), one after each layer in `after`."""
  return {str(i): AttentionBlock(hidden_size, hidden_size + channels + 2, num_heads,
                                 attention_dropout_rate=attention_dropout_rate,
                                 dropout_rate=dropout_rate, seeds=seeds,
                                 name=f'self_attention_{i}')
          for i in after}


class PixelSnail(tf.Module):
  """Strictly causal image network: output at pixel p depends only on pixels < p.

  Args:
    image_shape: `(H, W, C)` of the inputs (static).
    num_layers: gated convolutional layers (each updates both stacks).
    hidden_size: channels h of both stacks.
    filter_size: residual filter size r inside each gated block.
    num_attention_layers: causal self-attention blocks, spread over the layers.
    num_heads: attention heads (must divide h).
    dropout_rate: dropout on hidden activations and attention outputs.
    attention_dropout_rate: dropout on attention weights (defaults to
      `dropout_rate`).
    condition_size: channels D of the conditioning sequence, or None for none.
    condition_length: length L of the conditioning sequence.
    condition_structure: 'causal', 'full' or 'anti_causal' (module docstring).
    row_condition_size: channels D_r of the per-row condition added to every gated
      block (module docstring), or None for none.
    output_size: channels of a final `1x1(elu(.))` head, or None to return the
      horizontal stack `[B, H, W, h]` itself.
    weight_norm: weight-normalise the convolutions.
    seeds: `core.SeedSequence` for initial values.

  `__call__(x, condition=None, training=False, seed=None, row_condition=None)`: `x`
  `[B, H, W, C]` float in [-1, 1]; `condition` `[B, L, D]`; `row_condition`
  `[B, H, D_r]`. Computes in `x.dtype`.
  """

  def __init__(self, image_shape, num_layers, hidden_size, filter_size,
               num_attention_layers=0, num_heads=1, dropout_rate=0.0,
               attention_dropout_rate=None, condition_size=None,
               condition_length=None, condition_structure='causal', output_size=None,
               weight_norm=False, seeds=None, row_condition_size=None, name=None):
    super().__init__(name=name)
    seeds = seeds or core.default_init_seeds()
    self.height, self.width, self.channels = (int(s) for s in image_shape)
    self.num_layers = int(num_layers)
    self.hidden_size = int(hidden_size)
    self.dropout_rate = float(dropout_rate)
    if attention_dropout_rate is None:
      attention_dropout_rate = dropout_rate
    if condition_structure not in CONDITION_STRUCTURES:
      raise ValueError(f'condition_structure must be one of {CONDITION_STRUCTURES}, '
                       f'got {condition_structure!r}.')
    self.condition_structure = condition_structure
    self.condition_length = condition_length
    self.self_attention_after = attention_layer_indices(num_layers,
                                                        num_attention_layers)
    if condition_size:
      if not condition_length:
        raise ValueError('condition_length is required with condition_size.')
      self.cross_attention_after = (self.self_attention_after
                                    or (self.num_layers - 1,))
    else:
      self.cross_attention_after = ()
    h, c = self.hidden_size, self.channels
    self.row_condition_size = row_condition_size or None
    block = lambda conv_type, i, **kw: pixel.GatedResidualBlock(
        h, filter_size, conv_type, dropout_rate=dropout_rate,
        condition_size=self.row_condition_size, weight_norm=weight_norm, seeds=seeds,
        name=f'{conv_type}_{i}', **kw)
    with self.name_scope:
      self.input_layer = pixel.CausalInput(c, h, weight_norm=weight_norm, seeds=seeds,
                                           name='input')
      self.vertical_blocks = [block('down', i) for i in range(self.num_layers)]
      self.horizontal_blocks = [block('down_right', i, aux_size=h)
                                for i in range(self.num_layers)]
      self.self_attention = self_attention_blocks(
          self.self_attention_after, h, c, num_heads, attention_dropout_rate,
          dropout_rate, seeds)
      self.cross_attention = {
          str(i): AttentionBlock(h, condition_size, num_heads,
                            attention_dropout_rate=attention_dropout_rate,
                            dropout_rate=dropout_rate, seeds=seeds,
                            name=f'cross_attention_{i}')
          for i in self.cross_attention_after}
      self.output_layer = (pixel.Conv1x1(h, output_size, seeds=seeds, name='output')
                           if output_size else None)

  def self_attention_mask(self):
    """`[H*W, H*W]` strictly causal mask over raster positions."""
    return attention.causal_mask(self.height * self.width, strict=True)

  def condition_mask(self):
    return condition_mask(self.height, self.width, self.condition_length,
                          self.condition_structure)

  def _check_conditions(self, condition, row_condition):
    if (condition is None) != (not self.cross_attention_after):
      raise ValueError('PixelSnail built with condition_size needs a condition, and '
                       'one built without cannot take one.')
    if (row_condition is None) != (self.row_condition_size is None):
      raise ValueError('PixelSnail built with row_condition_size needs a '
                       'row_condition, and one built without cannot take one.')

  def __call__(self, x, condition=None, training=False, seed=None, row_condition=None):
    self._check_conditions(condition, row_condition)
    if row_condition is not None:
      row_condition = tf.cast(row_condition, x.dtype)[:, :, tf.newaxis, :]
    position = pixel.position_features(self.height, self.width, x.dtype)
    layer_seeds = _layer_seeds(seed, 2 * self.num_layers + len(
        self.self_attention_after) + len(self.cross_attention_after), training)
    next_seed = iter(layer_seeds).__next__
    vertical, horizontal = self.input_layer(x)
    self_mask = self.self_attention_mask() if self.self_attention else None
    cross_mask = self.condition_mask() if self.cross_attention else None
    for i in range(self.num_layers):
      vertical = self.vertical_blocks[i](vertical, condition=row_condition,
                                         training=training, seed=next_seed())
      horizontal = self.horizontal_blocks[i](horizontal, aux=vertical,
                                             condition=row_condition,
                                             training=training, seed=next_seed())
      if str(i) in self.self_attention:
        memory = pixel.flatten_pixels(self_attention_memory(horizontal, x, position))
        horizontal = self.self_attention[str(i)](horizontal, position, memory,
                                            mask=self_mask, training=training,
                                            seed=next_seed())
      if str(i) in self.cross_attention:
        horizontal = self.cross_attention[str(i)](horizontal, position,
                                             tf.cast(condition, x.dtype),
                                             mask=cross_mask, training=training,
                                             seed=next_seed())
    if self.output_layer is None:
      return horizontal
    return self.output_layer(tf.nn.elu(horizontal))

  # ---- incremental evaluation (inference; module docstring) -------------------------
  def _stacks(self):
    return pixel.IncrementalStacks(self.input_layer, self.vertical_blocks,
                                   self.horizontal_blocks)

  def _position_at(self, p, dtype):
    """`[1, 1, P]`: the position features of raster position `p`."""
    position = pixel.position_features(self.height, self.width, dtype)
    return tf.gather(tf.reshape(position, [1, self.height * self.width, -1]), [p],
                     axis=1)

  def _row_condition_at(self, cache, row):
    """The gated blocks' condition at `row`, `[B, 1, 1, D_r]`, or None."""
    if self.row_condition_size is None:
      return None
    return tf.gather(cache['row_condition'], [row], axis=1)

  def init_cache(self, batch_size, condition=None, row_condition=None,
                 dtype=tf.float32):
    """The cache before the first pixel (`condition`, `row_condition` as `__call__`).

    A dict: 'stacks' (`pixel.IncrementalStacks`), 'row_condition' `[B, H, 1, D_r]`,
    'cross_kv' and 'self_kv' (per attention block, keys and values
    `[B, heads, L or H*W, head_dim]`), 'pending' (per self-attention block, its
    input at the current pixel `[B, 1, 1, h]`, from `step` for `append`).
    """
    self._check_conditions(condition, row_condition)
    num_pixels = self.height * self.width
    cache = {'stacks': self._stacks().init_cache(batch_size, self.width, dtype)}
    if row_condition is not None:
      cache['row_condition'] = tf.cast(row_condition, dtype)[:, :, tf.newaxis, :]
    if self.cross_attention:
      memory = tf.cast(condition, dtype)
      cache['cross_kv'] = {key: block.keys_values(memory)
                           for key, block in self.cross_attention.items()}
    if self.self_attention:
      cache['self_kv'], cache['pending'] = {}, {}
      for key, block in self.self_attention.items():
        attn = block.attention
        shape = [batch_size, attn.num_heads, num_pixels]
        cache['self_kv'][key] = (tf.zeros(shape + [attn.key_head_dim], dtype),
                                 tf.zeros(shape + [attn.value_head_dim], dtype))
        cache['pending'][key] = tf.zeros([batch_size, 1, 1, self.hidden_size], dtype)
    return cache

  def start_row(self, cache, row):
    """The cache for the pixels of `row`: its vertical stack from the row above."""
    stacks = self._stacks().start_row(cache['stacks'], row,
                                      self._row_condition_at(cache, row))
    return dict(cache, stacks=stacks)

  def step(self, cache, row, column):
    """The output at pixel `(row, column)`, `[B, output_size or h]`, and the cache."""
    p = row * self.width + column
    position = self._position_at(p, _cache_dtype(cache))
    cross_mask = self.condition_mask() if self.cross_attention else None
    pending = {}

    def attend(layer, h):
      key = str(layer)
      if key in self.self_attention:
        pending[key] = h
        k, v = cache['self_kv'][key]
        mask = (tf.range(self.height * self.width) < p)[None, :]
        h = self.self_attention[key].attend_cached(
            tf.reshape(h, [-1, 1, self.hidden_size]), position, k, v, mask=mask)
        h = tf.reshape(h, [-1, 1, 1, self.hidden_size])
      if key in self.cross_attention:
        k, v = cache['cross_kv'][key]
        mask = None if cross_mask is None else tf.gather(cross_mask, [p])
        h = self.cross_attention[key].attend_cached(
            tf.reshape(h, [-1, 1, self.hidden_size]), position, k, v, mask=mask)
        h = tf.reshape(h, [-1, 1, 1, self.hidden_size])
      return h

    h, stacks = self._stacks().step(cache['stacks'], column,
                                    self._row_condition_at(cache, row), attend)
    cache = dict(cache, stacks=stacks)
    if pending:
      cache['pending'] = pending
    if self.output_layer is not None:
      h = self.output_layer(tf.nn.elu(h))
    return h[:, 0, 0], cache

  def append(self, cache, row, column, x):
    """The cache with pixel `(row, column)` set to `x` `[B, C]`: the pixel's
    self-attention keys and values (they include its value) join the caches."""
    p = row * self.width + column
    x = tf.cast(x, _cache_dtype(cache))
    cache = dict(cache, stacks=self._stacks().append(cache['stacks'], column, x))
    if not self.self_attention:
      return cache
    position = self._position_at(p, x.dtype)
    self_kv = {}
    for key, block in self.self_attention.items():
      memory = self_attention_memory(
          tf.reshape(cache['pending'][key], [-1, 1, self.hidden_size]), x[:, None, :],
          position)
      k_p, v_p = block.keys_values(memory)                         # [B, heads, 1, d]
      k, v = cache['self_kv'][key]
      # (b, head, p) for every key row of the pixel.
      batch, heads = k.shape[0], k.shape[1]
      grid = tf.stack(tf.meshgrid(tf.range(batch), tf.range(heads), indexing='ij'), -1)
      grid = tf.reshape(grid, [batch * heads, 2])
      index = tf.concat([grid, tf.fill([batch * heads, 1], p)], axis=1)
      self_kv[key] = (
          tf.tensor_scatter_nd_update(k, index, tf.reshape(k_p, [-1, k.shape[-1]])),
          tf.tensor_scatter_nd_update(v, index, tf.reshape(v_p, [-1, v.shape[-1]])))
    # The pixel's inputs are used up: clearing them leaves nothing per pixel for a
    # loop to carry to the next iteration.
    pending = {key: tf.zeros_like(h) for key, h in cache['pending'].items()}
    return dict(cache, self_kv=self_kv, pending=pending)


class NonCausalImageNet(tf.Module):
  """The same blueprint without masks: every output sees the whole image.

  Input 3x3 convolution, `num_layers` gated blocks with centred 3x3 convolutions,
  unmasked self-attention blocks spread as in `PixelSnail`, optional `1x1(elu(.))`
  head. Arguments as `PixelSnail` (no conditioning).
  """

  def __init__(self, image_shape, num_layers, hidden_size, filter_size,
               num_attention_layers=0, num_heads=1, dropout_rate=0.0,
               attention_dropout_rate=None, output_size=None, weight_norm=False,
               seeds=None, name=None):
    super().__init__(name=name)
    seeds = seeds or core.default_init_seeds()
    self.height, self.width, self.channels = (int(s) for s in image_shape)
    self.num_layers = int(num_layers)
    if attention_dropout_rate is None:
      attention_dropout_rate = dropout_rate
    self.attention_after = attention_layer_indices(num_layers, num_attention_layers)
    h, c = int(hidden_size), self.channels
    with self.name_scope:
      self.input_layer = pixel.CenteredConv2D(c + 1, h, (3, 3),
                                              weight_norm=weight_norm, seeds=seeds,
                                              name='input')
      self.blocks = [pixel.GatedResidualBlock(h, filter_size, 'centered',
                                              dropout_rate=dropout_rate,
                                              weight_norm=weight_norm, seeds=seeds,
                                              name=f'centered_{i}')
                     for i in range(self.num_layers)]
      self.self_attention = self_attention_blocks(
          self.attention_after, h, c, num_heads, attention_dropout_rate, dropout_rate,
          seeds)
      self.output_layer = (pixel.Conv1x1(h, output_size, seeds=seeds, name='output')
                           if output_size else None)

  def __call__(self, x, training=False, seed=None):
    position = pixel.position_features(self.height, self.width, x.dtype)
    layer_seeds = _layer_seeds(seed, self.num_layers + len(self.attention_after),
                               training)
    next_seed = iter(layer_seeds).__next__
    h = self.input_layer(pixel.add_ones_channel(x))
    for i in range(self.num_layers):
      h = self.blocks[i](h, training=training, seed=next_seed())
      if str(i) in self.self_attention:
        memory = pixel.flatten_pixels(tf.concat(
            [h, x, _broadcast_position(position, x)], axis=-1))
        h = self.self_attention[str(i)](h, position, memory, training=training,
                                   seed=next_seed())
    if self.output_layer is None:
      return h
    return self.output_layer(tf.nn.elu(h))
