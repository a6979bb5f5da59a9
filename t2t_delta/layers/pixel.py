"""Causal convolutions and gated residual blocks for raster-order image models.

Images are `[B, H, W, C]` tensors; raster order visits rows top to bottom and, within
a row, columns left to right. Causality is obtained with padding and shifts rather
than masked kernels (as in PixelCNN++ and PixelSNAIL), which keeps every kernel dense
and every building block a plain 'VALID' `core.Conv2D` of a padded input:

* `DownShiftedConv2D` (kernel `[kh, kw]`, `kw` odd) pads `kh - 1` rows on top and
  `(kw - 1) / 2` columns on each side: the output at `(i, j)` reads rows `i - kh + 1
  .. i` and columns `j - (kw - 1)/2 .. j + (kw - 1)/2`. It serves the *vertical
  stack*, whose features at row `i` depend on image rows `< i` only.
* `DownRightShiftedConv2D` (kernel `[kh, kw]`) pads `kh - 1` rows on top and `kw - 1`
  columns on the left: the output at `(i, j)` reads rows `i - kh + 1 .. i` and columns
  `j - kw + 1 .. j`. It serves the *horizontal stack*, whose features at `(i, j)`
  depend on pixels strictly before `(i, j)` in raster order.
* `down_shift` / `right_shift` move a feature map one row down / one column right
  (zeros enter at the top / left). Applied once to the first convolution of the
  image, they turn "reads the current pixel" into "reads only earlier pixels".

`CausalInput` builds both stacks from the image with the invariants

    vertical[i, j]   depends on x[i', j'] only for i' < i,
    horizontal[i, j] depends on x[i', j'] only for (i', j') < (i, j) in raster order,

and `GatedResidualBlock` preserves them when given the matching convolution (the
horizontal block may read the vertical stack at the same position, which only sees
earlier rows).

Channel order. The network body is strictly causal in *pixels*: the output at pixel
`p` depends on no channel of pixel `p` or of any later pixel. The order R -> G -> B
within a pixel is supplied by the output distribution: the discretized logistic
mixture (`t2t_delta.distributions.dmol`) makes the means of G and B linear functions
of the actual R (and G) values of the same pixel. So log p(x) factorises as
prod_p p(R_p | x_<p) p(G_p | R_p, x_<p) p(B_p | R_p, G_p, x_<p), as in PixelCNN++.

Row-by-row evaluation. Every module is a function of a fixed, small neighbourhood of
padded input rows (`kernel_size[0]` rows for convolutions, one position for the 1x1
layers), so an incremental decoder can keep the last `kh - 1` rows of each layer's
input and call the same modules on a padded window; `pad_for_*` return the paddings
used here so that a cache can reproduce them exactly. `IncrementalStacks` does this
for `CausalInput` followed by gated vertical and horizontal stacks (the body of the
gated PixelCNN decoders, see `t2t_delta.layers.incremental`).

Every module computes in the dtype of its input (float32 variables are cast).
"""

import tensorflow as tf

from t2t_delta.layers import core


def _drop_last(x, axis):
  """x without its last entry along `axis` (a `tf.slice`: its gradient is one pad,
  where a strided slice's gradient is a slow general scatter on CPU)."""
  size = [-1] * x.shape.rank
  size[axis] = (x.shape[axis] if x.shape[axis] is not None else tf.shape(x)[axis]) - 1
  return tf.slice(x, [0] * x.shape.rank, size)


def down_shift(x):
  """[B, H, W, C] -> the same shape, moved one row down (row 0 becomes zeros)."""
  return tf.pad(_drop_last(x, 1), [[0, 0], [1, 0], [0, 0], [0, 0]])


def right_shift(x):
  """[B, H, W, C] -> the same shape, moved one column right (column 0 becomes zeros)."""
  return tf.pad(_drop_last(x, 2), [[0, 0], [0, 0], [1, 0], [0, 0]])


def pad_for_down_shifted(kernel_size):
  """Paddings `[[top, bottom], [left, right]]` of a down-shifted convolution."""
  kh, kw = kernel_size
  if kw % 2 != 1:
    raise ValueError(f'down-shifted convolutions need an odd kernel width, got {kw}.')
  return [[kh - 1, 0], [(kw - 1) // 2, (kw - 1) // 2]]


def pad_for_down_right_shifted(kernel_size):
  """Paddings `[[top, bottom], [left, right]]` of a down-right-shifted convolution."""
  kh, kw = kernel_size
  return [[kh - 1, 0], [kw - 1, 0]]


def pad_for_centered(kernel_size):
  """'SAME' paddings of an (unmasked, odd-sized) centred convolution."""
  kh, kw = kernel_size
  if kh % 2 != 1 or kw % 2 != 1:
    raise ValueError(f'centred convolutions need odd kernel sizes, got {kernel_size}.')
  return [[(kh - 1) // 2, (kh - 1) // 2], [(kw - 1) // 2, (kw - 1) // 2]]


def position_features(height, width, dtype=tf.float32):
  """Fixed `[1, H, W, 2]` coordinates in [-0.5, 0.5): (row, column), as PixelSNAIL."""
  rows = (tf.range(height, dtype=tf.float32) - height / 2.) / height
  cols = (tf.range(width, dtype=tf.float32) - width / 2.) / width
  grid = tf.stack(tf.meshgrid(rows, cols, indexing='ij'), axis=-1)
  return tf.cast(grid[tf.newaxis], dtype)


def add_ones_channel(x):
  """Appends a constant-one channel so that zero padding differs from black pixels."""
  return tf.concat([x, tf.ones_like(x[..., :1])], axis=-1)


class _PaddedConv2D(core.Conv2D):
  """A 'VALID' `core.Conv2D` that pads its input with `self.paddings` first (same
  output size)."""

  paddings = None

  def __init__(self, in_channels, out_channels, kernel_size, **kwargs):
    super().__init__(in_channels, out_channels, kernel_size, padding='VALID',
                     scoped_variable_names=True, **kwargs)

  def __call__(self, x):
    (top, bottom), (left, right) = self.paddings
    x = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
    return super().__call__(x)

  def unpadded(self, window):
    """The convolution of an input that already carries its padding.

    For incremental evaluation: `window` holds exactly the `kh` input rows (and the
    columns, zero where the full input would be padded) that the wanted outputs
    read, e.g. `[B, kh, kw, in]` for the output at one position.
    """
    return super().__call__(window)


class DownShiftedConv2D(_PaddedConv2D):
  """Output `(i, j)` reads rows `<= i` and columns `j -/+ (kw - 1)/2` (vertical stack)."""

  def __init__(self, in_channels, out_channels, kernel_size=(2, 3), **kwargs):
    super().__init__(in_channels, out_channels, kernel_size, **kwargs)
    self.paddings = pad_for_down_shifted(self.kernel_size)


class DownRightShiftedConv2D(_PaddedConv2D):
  """Output `(i, j)` reads rows `<= i`, columns `<= j` (horizontal stack)."""

  def __init__(self, in_channels, out_channels, kernel_size=(2, 2), **kwargs):
    super().__init__(in_channels, out_channels, kernel_size, **kwargs)
    self.paddings = pad_for_down_right_shifted(self.kernel_size)


class CenteredConv2D(_PaddedConv2D):
  """Unmasked 'SAME' convolution (odd kernel), for non-causal encoders."""

  def __init__(self, in_channels, out_channels, kernel_size=(3, 3), **kwargs):
    super().__init__(in_channels, out_channels, kernel_size, **kwargs)
    self.paddings = pad_for_centered(self.kernel_size)


class Conv1x1(core.Conv2D):
  """A position-wise (network-in-network) layer: `[..., in] -> [..., out]`.

  Keyword arguments as `core.Conv2D` (`weight_norm`, `init_scale`, `seeds`, `name`).
  """

  def __init__(self, in_channels, out_channels, **kwargs):
    super().__init__(in_channels, out_channels, (1, 1), padding='VALID',
                     scoped_variable_names=True, **kwargs)

  def __call__(self, x):
    return core.add_bias(core.apply_kernel(x, self.effective_kernel()[0, 0]), self.bias)


class CausalInput(tf.Module):
  """The first layer: image `[B, H, W, C]` -> (vertical, horizontal) stacks `[..., h]`.

  vertical   = down_shift(down_shifted_conv_[1 x 3](x))
  horizontal = down_shift(down_shifted_conv_[1 x 3](x))
               + right_shift(down_right_shifted_conv_[2 x 1](x))

  A ones channel is appended to `x` first, so the network can tell padding from
  pixel value 0. After this layer `vertical[i]` sees rows `< i` and
  `horizontal[i, j]` sees exactly the pixels before `(i, j)` in raster order (within
  its receptive field); neither sees pixel `(i, j)` itself.
  """

  def __init__(self, in_channels, hidden_size, weight_norm=False, seeds=None,
               name=None):
    super().__init__(name=name)
    seeds = seeds or core.default_init_seeds()
    c = in_channels + 1
    with self.name_scope:
      self.vertical_conv = DownShiftedConv2D(c, hidden_size, (1, 3),
                                             weight_norm=weight_norm, seeds=seeds,
                                             name='vertical_conv')
      self.above_conv = DownShiftedConv2D(c, hidden_size, (1, 3),
                                          weight_norm=weight_norm, seeds=seeds,
                                          name='above_conv')
      self.left_conv = DownRightShiftedConv2D(c, hidden_size, (2, 1),
                                              weight_norm=weight_norm, seeds=seeds,
                                              name='left_conv')

  def __call__(self, x):
    x = add_ones_channel(x)
    vertical = down_shift(self.vertical_conv(x))
    horizontal = down_shift(self.above_conv(x)) + right_shift(self.left_conv(x))
    return vertical, horizontal

  # ---- incremental evaluation (inference) -------------------------------------------
  # With `x` the image with its ones channel (`add_ones_channel`):
  #   vertical[i]      = row_above(x[i - 1])[0]   (zeros for i = 0)
  #   horizontal[i, j] = row_above(x[i - 1])[1][j]           (zeros for i = 0)
  #                      + left_of(x[i - 1 : i + 1, j - 1])  (zeros for j = 0)
  # where row -1 of `x` is zero (padding, ones channel included).

  def row_above(self, x_above):
    """`x_above` `[B, 1, W, C + 1]` (row i - 1, with the ones channel) ->
    (vertical, above) `[B, 1, W, h]`: row i of the vertical stack and the
    above-term of row i of the horizontal stack (valid for i >= 1)."""
    return self.vertical_conv(x_above), self.above_conv(x_above)

  def left_of(self, window):
    """`window` `[B, 2, 1, C + 1]` = x at (i - 1, j - 1) and (i, j - 1) ->
    `[B, 1, 1, h]`, the left-term of the horizontal stack at (i, j), j >= 1."""
    return self.left_conv.unpadded(window)


class GatedResidualBlock(tf.Module):
  """x + tanh(a) * sigmoid(b) with a gated-PixelCNN style bottleneck.

      t      = conv(elu(x))                            # h -> r, spatial, causal
      t     += 1x1(elu(aux))            if aux given   # another stream, e.g. vertical
      t      = dropout(elu(t))
      [a, b] = 1x1(t)                                  # r -> 2h
      [a, b] += 1x1(condition)          if condition given (added to both gates)
      out    = x + tanh(a) * sigmoid(b)

  `conv` is any of the shifted convolutions; the block is exactly as causal as `conv`
  (the other layers are position-wise). `r` is the residual filter size.

  Args:
    hidden_size: h, channels of `x` and of the output.
    filter_size: r, channels inside the block.
    conv_type: 'down' (vertical stack), 'down_right' (horizontal stack) or 'centered'.
    kernel_size: spatial kernel of the first convolution; defaults (2, 3), (2, 2) and
      (3, 3) respectively.
    aux_size: channels of the optional `aux` input (None: no aux input).
    condition_size: channels of the optional `condition` input (None: none).
    dropout_rate: dropout on the block's hidden activations (training only).
    weight_norm: weight-normalise the convolutions.
  """

  _DEFAULT_KERNELS = {'down': (2, 3), 'down_right': (2, 2), 'centered': (3, 3)}
  _CONVS = {'down': DownShiftedConv2D, 'down_right': DownRightShiftedConv2D,
            'centered': CenteredConv2D}

  def __init__(self, hidden_size, filter_size, conv_type, kernel_size=None,
               aux_size=None, condition_size=None, dropout_rate=0.0,
               weight_norm=False, seeds=None, name=None):
    super().__init__(name=name)
    if conv_type not in self._CONVS:
      raise ValueError(f'conv_type must be one of {sorted(self._CONVS)}, '
                       f'got {conv_type!r}.')
    seeds = seeds or core.default_init_seeds()
    kernel_size = kernel_size or self._DEFAULT_KERNELS[conv_type]
    self.hidden_size, self.filter_size = int(hidden_size), int(filter_size)
    self.dropout_rate = float(dropout_rate)
    with self.name_scope:
      self.conv = self._CONVS[conv_type](hidden_size, filter_size, kernel_size,
                                         weight_norm=weight_norm, seeds=seeds,
                                         name='conv')
      self.aux_proj = (Conv1x1(aux_size, filter_size, weight_norm=weight_norm,
                               seeds=seeds, name='aux_proj')
                       if aux_size else None)
      self.gate_proj = Conv1x1(filter_size, 2 * hidden_size, weight_norm=weight_norm,
                               init_scale=0.1, seeds=seeds, name='gate_proj')
      self.condition_proj = (Conv1x1(condition_size, 2 * hidden_size,
                                     weight_norm=weight_norm, seeds=seeds,
                                     name='condition_proj')
                             if condition_size else None)

  def __call__(self, x, aux=None, condition=None, training=False, seed=None):
    return self.from_conv_output(self.conv(tf.nn.elu(x)), x, aux=aux,
                                 condition=condition, training=training, seed=seed)

  def on_window(self, window, x, aux=None, condition=None):
    """The block at a few positions from a cached window of its input (inference).

    Args:
      window: the block input rows and columns that the convolution reads for the
        wanted outputs, with zeros where `__call__` would pad (`[B, kh, kw, h]` for
        one position, `[B, kh, n + kw - 1, h]` for `n` positions of a row); see
        `pixel.pad_for_*` for the paddings.
      x: `[B, 1, n, h]` the block input at the output positions (the residual).
      aux, condition: as `__call__`, at the output positions.

    Equals `__call__` (without dropout) at those positions, because the
    activation is applied before the padding there and elu(0) = 0.
    """
    return self.from_conv_output(self.conv.unpadded(tf.nn.elu(window)), x, aux=aux,
                                 condition=condition)

  def from_conv_output(self, t, x, aux=None, condition=None, training=False,
                       seed=None):
    """The rest of the block given the spatial convolution's output `t`."""
    if aux is not None:
      t += self.aux_proj(tf.nn.elu(aux))
    t = core.dropout(tf.nn.elu(t), self.dropout_rate, seed, training)
    gates = self.gate_proj(t)
    if condition is not None:
      gates += self.condition_proj(condition)
    a, b = tf.split(gates, 2, axis=-1)
    return x + tf.tanh(a) * tf.sigmoid(b)


def num_positions(image_shape):
  """H * W of an `(H, W, ...)` shape."""
  return int(image_shape[0]) * int(image_shape[1])


def flatten_pixels(x):
  """[B, H, W, D] -> [B, H*W, D] in raster order (static H, W)."""
  _, h, w, d = x.shape
  return tf.reshape(x, [-1, h * w, d])


def unflatten_pixels(x, height, width):
  """[B, H*W, D] -> [B, H, W, D]."""
  return tf.reshape(x, [-1, height, width, x.shape[-1]])


def row_of_position(height, width):
  """[H*W] int32: the row of each raster position."""
  return tf.range(height * width) // width


class IncrementalStacks:
  """Incremental form of `CausalInput` + gated vertical and horizontal stacks.

  The network it evaluates (as `PixelSnail` and vlae's gated PixelCNN do in full):

      vertical, horizontal = input_layer(x)
      for l, (v_block, h_block) in enumerate(zip(vertical_blocks, horizontal_blocks)):
        vertical   = v_block(vertical, condition=condition)
        horizontal = h_block(horizontal, aux=vertical, condition=condition)
        horizontal = after_layer(l, horizontal)   # e.g. attention; None: identity

  How the cache reproduces it (all shapes static, `h` = hidden size):

  * Vertical stack (features of row `i` depend on rows `< i` only): computed for a
    whole row at once by `start_row`, from the finished row above; each layer keeps
    the last `kh - 1` rows of its input (`kh` = kernel height), `[B, kh - 1, W, h]`,
    and the row's output, the horizontal block's `aux` `[W, B, h]`.
  * Horizontal stack: computed by `step` at the single position `(i, j)` in every
    layer from a cached window: each layer keeps the last `kh - 1` rows of its input
    plus the columns of the current row computed so far, `[kh, W + kw - 1, B, h]`,
    column-padded on the left by `kw - 1` (zeros where the full network pads).
  * Input layer: the above-term of row `i` is computed by `start_row` for the whole
    row; the left-term at `(i, j)` by `step` from the pixels `(i - 1, j - 1)` and
    `(i, j - 1)`, kept (with their ones channel) as the row above and the current
    row, `[W, B, C + 1]`; `append` writes the current row.

  Args:
    input_layer: a `CausalInput`.
    vertical_blocks, horizontal_blocks: `GatedResidualBlock`s with 'down' and
      'down_right' convolutions, one of each per layer.

  `condition` (the blocks' condition at the current row, `[B, 1, 1, d]`, or None) is
  passed to `start_row` and `step` by the decoder that owns the layers.
  """

  def __init__(self, input_layer, vertical_blocks, horizontal_blocks):
    self.input_layer = input_layer
    self.vertical_blocks = list(vertical_blocks)
    self.horizontal_blocks = list(horizontal_blocks)

  def init_cache(self, batch_size, width, dtype=tf.float32):
    """Zeros (padding) everywhere: a dict of tensors, see the class docstring."""
    conv = self.input_layer.vertical_conv
    hidden, channels = conv.out_channels, conv.in_channels
    row = tf.zeros([width, batch_size, hidden], dtype)
    pixels = tf.zeros([width, batch_size, channels], dtype)
    return {
        'vertical_rows': [tf.zeros([batch_size, b.conv.kernel_size[0] - 1, width,
                                    hidden], dtype) for b in self.vertical_blocks],
        'horizontal_rows': [
            tf.zeros([b.conv.kernel_size[0], width + b.conv.kernel_size[1] - 1,
                      batch_size, hidden], dtype) for b in self.horizontal_blocks],
        'aux': [row] * len(self.vertical_blocks),
        'above': row,
        'x_above': pixels,
        'x_row': pixels,
    }

  def start_row(self, cache, row, condition=None):
    """The cache for row `row`: its vertical stack, from the finished row above."""
    # The row above with its ones channel; zero (padding) above the first row.
    has_above = row > 0
    x_above = tf.where(has_above, cache['x_row'], tf.zeros_like(cache['x_row']))
    vertical, above = self.input_layer.row_above(
        tf.transpose(x_above, [1, 0, 2])[:, None])                   # [B, 1, W, h]
    vertical = tf.where(has_above, vertical, tf.zeros_like(vertical))
    above = tf.where(has_above, above, tf.zeros_like(above))
    # The vertical stack of the row, all columns at once.
    aux, vertical_rows = [], []
    for l, block in enumerate(self.vertical_blocks):
      window = tf.concat([cache['vertical_rows'][l], vertical], axis=1)  # [B, kh, W, h]
      vertical_rows.append(window[:, 1:])
      (_, _), (left, right) = block.conv.paddings
      window = tf.pad(window, [[0, 0], [0, 0], [left, right], [0, 0]])
      vertical = block.on_window(window, vertical, condition=condition)
      aux.append(tf.transpose(vertical[:, 0], [1, 0, 2]))           # [W, B, h]
    # Horizontal windows move up one row; the new current row starts empty.
    horizontal_rows = [tf.concat([rows[1:], tf.zeros_like(rows[:1])], axis=0)
                       for rows in cache['horizontal_rows']]
    return {
        'vertical_rows': vertical_rows,
        'horizontal_rows': horizontal_rows,
        'aux': aux,
        'above': tf.transpose(above[:, 0], [1, 0, 2]),               # [W, B, h]
        'x_above': x_above,
        'x_row': tf.zeros_like(cache['x_row']),
    }

  def step(self, cache, column, condition=None, after_layer=None):
    """The last horizontal layer's output at `(row, column)`, `[B, 1, 1, h]`, and
    the cache; `after_layer(l, h)` -> h runs after horizontal layer `l`."""
    # Input layer: the above-term plus the left-term from column - 1.
    previous = tf.maximum(column - 1, 0)
    window = tf.stack([tf.gather(cache['x_above'], previous),
                       tf.gather(cache['x_row'], previous)], axis=1)  # [B, 2, C + 1]
    left = self.input_layer.left_of(window[:, :, None, :])           # [B, 1, 1, h]
    left = tf.where(column > 0, left, tf.zeros_like(left))
    h = tf.gather(cache['above'], column)[:, None, None, :] + left    # [B, 1, 1, h]
    horizontal_rows = []
    for l, block in enumerate(self.horizontal_blocks):
      kh, kw = block.conv.kernel_size
      rows = tf.tensor_scatter_nd_update(cache['horizontal_rows'][l],
                                         [[kh - 1, column + kw - 1]], h[None, :, 0, 0])
      horizontal_rows.append(rows)
      window = tf.transpose(tf.gather(rows, column + tf.range(kw), axis=1),
                            [2, 0, 1, 3])                            # [B, kh, kw, h]
      aux = tf.gather(cache['aux'][l], column)[:, None, None, :]
      h = block.on_window(window, h, aux=aux, condition=condition)
      if after_layer is not None:
        h = after_layer(l, h)
    return h, dict(cache, horizontal_rows=horizontal_rows)

  def append(self, cache, column, x):
    """The cache with pixel `(row, column)` of the current row set to `x` `[B, C]`."""
    return dict(cache, x_row=tf.tensor_scatter_nd_update(
        cache['x_row'], [[column]], add_ones_channel(x)[None]))
