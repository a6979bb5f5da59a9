"""Ancestral sampling of images from the autoregressive image decoders, cached and naive.

Both samplers fill the canvas in raster order (rows top to bottom, columns left to
right), one pixel (all of its channels) per iteration of a compiled
`tf.while_loop`, and differ only in how the network output of pixel `p` is obtained:

* `sample_naive` (the reference): every iteration runs the whole decoder on the
  current canvas (`[B, H, W, C]`; pixels not yet generated hold 0 and cannot
  influence pixel `p`, the decoder being strictly causal) and keeps the output at
  `p`. Its cost per pixel is the cost of a full forward pass.
* `sample_cached`: every iteration computes only what pixel `p` adds:

  - *Vertical stack* (features of row `i` depend on rows `< i` only): computed for
    a whole row at once when the row starts, from the finished row above; each
    layer keeps the last `kh - 1` rows of its input (`kh` = kernel height).
  - *Horizontal stack*: computed at the single position `p` in every layer from a
    cached window: each layer keeps the last `kh - 1` rows of its input plus the
    columns of the current row generated so far (`[kh, W + kw - 1]` positions,
    zeros where the full network pads).
  - *Causal self-attention*: keys and values of every generated pixel are
    appended to a pre-allocated cache over all `H * W` positions once the pixel is
    sampled (they include the pixel's value); the query at `p` attends with the
    same strictly causal mask (keys `< p`) as the full network.
  - *Cross-attention to the latent rows*: keys and values are computed once from
    the latents; the query at `p` uses row `p // W` of the same condition mask.

  All caches have static shapes and are updated in place
  (`tf.tensor_scatter_nd_update`), so the loop compiles once per batch shape.
  Per pixel the network does the work of about two positions (one horizontal,
  one amortised vertical) plus attention reads, instead of `H * W` positions.

Randomness and exactness. Pixel `p` is sampled with
`dmol.sample_pixel(params, C, K, fold_in(seed, p))` in both samplers, so for the
same seed, latents, batch size and `jit_compile` both draw the same random numbers,
and they produce identical images as long as their network outputs agree; the
cached path evaluates the same layers on the same values (windows padded exactly
like the full network, the same attention length and masks), so its outputs
differ from the full pass only by float32 rounding (matrix products of different
shapes), which can change a sampled value only if it falls within ~1e-4 of a
rounding boundary. (XLA's stateless generators are not bit-identical to the TF
kernels, so compare runs with the same `jit_compile`.) A pixel's random numbers also
depend on its position in the batch: decode with a fixed batch size to reproduce.

Temperature `T`. Before sampling, the mixture logits are divided by `T` and every
logistic scale is multiplied by `T` (log-scales shifted by log T, then floored at
-7 as usual); the channel coupling is unchanged. `T = 1` leaves the parameters
untouched, `T < 1` sharpens both the component choice and each component.

Supported decoders: the PixelSNAIL-like `ImageDecoder` of `delta_vae_image` and
`ar_image` (self- and cross-attention), and the local gated PixelCNN of
`vlae_image` (global latent as a per-block condition). Latents: `[B, H, d]` for
`delta_vae_image`, `[B, d]` for `vlae_image`, None for `ar_image` (pass
`batch_size`).

    images = sample_cached(model, z, seed=tf.constant([1, 2]), temperature=0.9)
    images.shape  # [B, H, W, C] uint8
"""

import weakref

import tensorflow as tf

from t2t_delta import distributions
from t2t_delta.distributions import dmol
from t2t_delta.errors import UserError
from t2t_delta.layers import pixel
from t2t_delta.layers import pixelsnail
from t2t_delta.models import image_common

_COMPILED = weakref.WeakKeyDictionary()


# ---- the decoder seen as a stack of layers ----------------------------------------------
class _Network:
  """Uniform view of a supported image decoder for the samplers."""

  def __init__(self, model):
    decoder = getattr(model, 'decoder', None)
    shape = getattr(model, 'image_shape', None)
    name = getattr(model, 'registered_name', None) or type(model).__name__
    if shape is None or decoder is None:
      raise UserError(f'model {name!r} has no autoregressive image decoder; the image '
                      'sampler supports delta_vae_image, ar_image and vlae_image.')
    self.height, self.width, self.channels = (int(s) for s in shape)
    self.num_components = int(decoder.num_components)
    self.decoder = decoder
    if isinstance(decoder, image_common.ImageDecoder):
      net = decoder.net
      self.kind = 'pixelsnail'
      self.needs_z = decoder.latent_dim is not None
      self.input_layer = net.input_layer
      self.vertical_blocks = list(net.vertical_blocks)
      self.horizontal_blocks = list(net.horizontal_blocks)
      self.self_attention = {int(k): v for k, v in net.self_attention.items()}
      self.cross_attention = {int(k): v for k, v in net.cross_attention.items()}
      self.output_layer = net.output_layer
      self._net = net
    elif hasattr(decoder, 'vertical') and hasattr(decoder, 'horizontal'):
      self.kind = 'local_pixelcnn'
      self.needs_z = True
      self.input_layer = decoder.input_layer
      self.vertical_blocks = list(decoder.vertical)
      self.horizontal_blocks = list(decoder.horizontal)
      self.self_attention, self.cross_attention = {}, {}
      self.output_layer = decoder.output_layer
    else:
      raise UserError(f'model {name!r}: the image sampler supports the PixelSNAIL '
                      'decoder (delta_vae_image, ar_image) and the gated PixelCNN '
                      '(vlae_image).')
    self.num_params = distributions.dmol_num_params(self.channels, self.num_components)

  def full(self, x, z):
    """The whole decoder on a canvas `x` in [-1, 1]: `[B, H, W, P]`."""
    return self.decoder(x, z)

  def block_condition(self, z, dtype):
    """Per-block condition: `[B, 1, 1, d]` (gated PixelCNN: one global latent),
    `[B, H, 1, d]` (PixelSNAIL with row conditioning: each row's latent) or None."""
    if self.kind == 'local_pixelcnn':
      return tf.cast(z, dtype)[:, None, None, :]
    if self.decoder.latent_in_blocks:
      return tf.cast(z, dtype)[:, :, None, :]
    return None

  @staticmethod
  def condition_at_row(condition, i):
    """The block condition of row `i`, `[B, 1, 1, d]` (None stays None)."""
    if condition is None or condition.shape[1] == 1:
      return condition
    return tf.gather(condition, [i], axis=1)

  def cross_memory(self, z, dtype):
    if self.kind == 'pixelsnail' and self.cross_attention:
      return self.decoder.latent_memory(tf.cast(z, dtype))
    return None

  def cross_mask(self):
    """`[H*W, L]` bool or None (every pixel sees every latent row)."""
    if not self.cross_attention:
      return None
    return self._net.condition_mask()


def check_model(model):
  """UserError unless the samplers support `model`'s decoder."""
  _Network(model)


def apply_temperature(params, num_channels, num_components, temperature):
  """DMOL parameters `[..., P]` at `temperature`: logits / T, log-scales + log T."""
  k = num_components
  per_channel = 3 if num_channels == 3 else 2
  kind = [0] * k                            # 0: logit, 1: log-scale, 2: other
  for _ in range(num_channels):
    kind += [2] * k + [1] * k + [2] * k * (per_channel - 2)
  kind = tf.constant(kind)
  temperature = tf.cast(temperature, params.dtype)
  multiplier = tf.where(tf.equal(kind, 0), 1. / temperature, tf.ones([], params.dtype))
  offset = tf.where(tf.equal(kind, 1), tf.math.log(temperature),
                    tf.zeros([], params.dtype))
  return params * multiplier + offset


def _sample_at(net, params, temperature, seed, p):
  """Pixel values `[B, C]` (float, 0..255) of pixel `p` from its parameters `[B, P]`."""
  params = apply_temperature(tf.cast(params, tf.float32), net.channels,
                             net.num_components, temperature)
  return dmol.sample_pixel(params, net.channels, net.num_components,
                           tf.random.experimental.stateless_fold_in(seed, p))


def _to_output(canvas, params_buf, return_params):
  """Internal `[H, W, B, ...]` buffers -> `[B, H, W, ...]`."""
  images = dmol.to_pixels(tf.transpose(canvas, [2, 0, 1, 3]), tf.uint8)
  if return_params:
    return images, tf.transpose(params_buf, [2, 0, 1, 3])
  return images


# ---- naive ------------------------------------------------------------------------------
def _build_naive(net, batch_size, return_params):
  height, width, channels = net.height, net.width, net.channels

  def run(seed, z, temperature, limit):
    canvas = tf.zeros([height, width, batch_size, channels])
    params_buf = tf.zeros([height, width, batch_size,
                           net.num_params if return_params else 1])

    def body(p, canvas, params_buf):
      x = image_common.images_to_float(tf.transpose(canvas, [2, 0, 1, 3]))
      out = net.full(x, z)
      i, j = p // width, p % width
      params = tf.cast(tf.gather_nd(tf.transpose(out, [1, 2, 0, 3]), [[i, j]])[0],
                       tf.float32)
      values = _sample_at(net, params, temperature, seed, p)
      canvas = tf.tensor_scatter_nd_update(canvas, [[i, j]], values[None])
      if return_params:
        params_buf = tf.tensor_scatter_nd_update(params_buf, [[i, j]], params[None])
      return p + 1, canvas, params_buf

    _, canvas, params_buf = tf.while_loop(
        lambda p, *_: p < limit, body, (tf.constant(0), canvas, params_buf),
        maximum_iterations=height * width)
    return _to_output(canvas, params_buf, return_params)

  return run


# ---- cached -----------------------------------------------------------------------------
def _build_cached(net, batch_size, return_params):
  height, width, channels = net.height, net.width, net.channels
  num_pixels = height * width
  batch = batch_size
  dtype = tf.float32
  hidden = net.input_layer.vertical_conv.out_channels

  def run(seed, z, temperature, limit):
    position = tf.reshape(pixel.position_features(height, width, dtype),
                          [1, num_pixels, 2])
    condition = net.block_condition(z, dtype) if net.needs_z else None
    memory = net.cross_memory(z, dtype) if net.needs_z else None
    cross_kv = {l: block.keys_values(memory)
                for l, block in net.cross_attention.items()}
    cross_mask = net.cross_mask()
    # Indices (b, head) of every key row, for writing one position of a k/v cache.
    self_index = {}
    kv_init = []
    for l in sorted(net.self_attention):
      attn = net.self_attention[l].attention
      heads = attn.num_heads
      grid = tf.stack(tf.meshgrid(tf.range(batch), tf.range(heads), indexing='ij'), -1)
      self_index[l] = tf.reshape(grid, [batch * heads, 2])
      kv_init.append((tf.zeros([batch, heads, num_pixels, attn.key_head_dim], dtype),
                      tf.zeros([batch, heads, num_pixels, attn.value_head_dim],
                               dtype)))
    self_layers = sorted(net.self_attention)
    v_kernels = [b.conv.kernel_size for b in net.vertical_blocks]
    h_kernels = [b.conv.kernel_size for b in net.horizontal_blocks]
    # Vertical stack: last kh - 1 rows of each layer's input, [B, kh - 1, W, h].
    v_init = [tf.zeros([batch, kh - 1, width, hidden], dtype) for kh, _ in v_kernels]
    # Horizontal stack: last kh - 1 rows plus the current one of each layer's input,
    # column-padded on the left by kw - 1, [kh, W + kw - 1, B, h].
    h_init = [tf.zeros([kh, width + kw - 1, batch, hidden], dtype)
              for kh, kw in h_kernels]
    canvas = tf.zeros([height, width, batch, channels])
    params_buf = tf.zeros([height, width, batch,
                           net.num_params if return_params else 1])

    def row_body(i, canvas, params_buf, v_rows, h_rows, kv):
      row_condition = net.condition_at_row(condition, i)
      # The row above with its ones channel; zero (padding) above the first row.
      above_x = pixel.add_ones_channel(image_common.images_to_float(
          tf.transpose(tf.gather(canvas, [tf.maximum(i - 1, 0)]), [2, 0, 1, 3])))
      has_above = i > 0
      above_x = tf.where(has_above, above_x, tf.zeros_like(above_x))
      vertical, above = net.input_layer.row_above(above_x)
      vertical = tf.where(has_above, vertical, tf.zeros_like(vertical))
      above = tf.where(has_above, above, tf.zeros_like(above))
      # The vertical stack of row i, all columns at once.
      aux_rows, new_v_rows = [], []
      for l, block in enumerate(net.vertical_blocks):
        window = tf.concat([v_rows[l], vertical], axis=1)       # [B, kh, W, h]
        new_v_rows.append(window[:, 1:])
        (_, _), (left, right) = block.conv.paddings
        window = tf.pad(window, [[0, 0], [0, 0], [left, right], [0, 0]])
        vertical = block.on_window(window, vertical, condition=row_condition)
        aux_rows.append(tf.transpose(vertical[:, 0], [1, 0, 2]))  # [W, B, h]
      # Horizontal caches move up one row; the new current row starts empty.
      h_rows = [tf.concat([rows[1:], tf.zeros_like(rows[:1])], axis=0)
                for rows in h_rows]
      above_cols = tf.transpose(above[:, 0], [1, 0, 2])           # [W, B, h]
      above_x_cols = tf.transpose(above_x[:, 0], [1, 0, 2])       # [W, B, C + 1]

      def col_body(j, canvas, params_buf, h_rows, kv):
        p = i * width + j
        # Input layer at (i, j): the above-term plus the left-term from (., j - 1).
        previous = tf.maximum(j - 1, 0)
        left_x = pixel.add_ones_channel(image_common.images_to_float(
            tf.gather_nd(canvas, [[i, previous]])[0]))               # [B, C + 1]
        window = tf.stack([tf.gather(above_x_cols, previous), left_x], axis=1)
        left = net.input_layer.left_of(window[:, :, None, :])       # [B, 1, 1, h]
        left = tf.where(j > 0, left, tf.zeros_like(left))
        h = tf.gather(above_cols, j)[:, None, None, :] + left        # [B, 1, 1, h]
        pos = tf.gather(position, [p], axis=1)                       # [1, 1, 2]
        new_h_rows, pending = [], {}
        for l, block in enumerate(net.horizontal_blocks):
          kh, kw = h_kernels[l]
          rows = tf.tensor_scatter_nd_update(h_rows[l], [[kh - 1, j + kw - 1]],
                                             h[None, :, 0, 0])
          new_h_rows.append(rows)
          window = tf.transpose(tf.gather(rows, j + tf.range(kw), axis=1),
                                [2, 0, 1, 3])                        # [B, kh, kw, h]
          aux = tf.gather(aux_rows[l], j)[:, None, None, :]
          h = block.on_window(window, h, aux=aux, condition=row_condition)
          if l in net.self_attention:
            pending[l] = h
            k, v = kv[self_layers.index(l)]
            mask = (tf.range(num_pixels) < p)[None, :]
            h = net.self_attention[l].attend_cached(
                tf.reshape(h, [batch, 1, hidden]), pos, k, v, mask=mask)
            h = tf.reshape(h, [batch, 1, 1, hidden])
          if l in net.cross_attention:
            k, v = cross_kv[l]
            mask = None if cross_mask is None else tf.gather(cross_mask, [p])
            h = net.cross_attention[l].attend_cached(
                tf.reshape(h, [batch, 1, hidden]), pos, k, v, mask=mask)
            h = tf.reshape(h, [batch, 1, 1, hidden])
        params = tf.cast(net.output_layer(tf.nn.elu(h))[:, 0, 0], tf.float32)
        values = _sample_at(net, params, temperature, seed, p)        # [B, C]
        canvas = tf.tensor_scatter_nd_update(canvas, [[i, j]], values[None])
        if return_params:
          params_buf = tf.tensor_scatter_nd_update(params_buf, [[i, j]], params[None])
        # Append pixel p's keys and values (they include its value).
        x_p = image_common.images_to_float(values)[:, None, :]      # [B, 1, C]
        new_kv = []
        for n, l in enumerate(self_layers):
          row = pixelsnail.self_attention_memory(
              tf.reshape(pending[l], [batch, 1, hidden]), x_p, pos)
          k_p, v_p = net.self_attention[l].keys_values(row)           # [B, h, 1, d]
          index = tf.concat([self_index[l], tf.fill([tf.shape(self_index[l])[0], 1],
                                                    p)], axis=1)
          k, v = kv[n]
          k = tf.tensor_scatter_nd_update(k, index,
                                          tf.reshape(k_p, [-1, k.shape[-1]]))
          v = tf.tensor_scatter_nd_update(v, index,
                                          tf.reshape(v_p, [-1, v.shape[-1]]))
          new_kv.append((k, v))
        return j + 1, canvas, params_buf, new_h_rows, new_kv

      _, canvas, params_buf, h_rows, kv = tf.while_loop(
          lambda j, *_: tf.logical_and(j < width, i * width + j < limit), col_body,
          (tf.constant(0), canvas, params_buf, h_rows, kv),
          maximum_iterations=width)
      return i + 1, canvas, params_buf, new_v_rows, h_rows, kv

    _, canvas, params_buf, _, _, _ = tf.while_loop(
        lambda i, *_: i * width < limit, row_body,
        (tf.constant(0), canvas, params_buf, v_init, h_init, kv_init),
        maximum_iterations=height)
    return _to_output(canvas, params_buf, return_params)

  return run


# ---- public -----------------------------------------------------------------------------
def _sample(mode, model, z, seed, temperature, batch_size, num_pixels, return_params,
            jit_compile):
  net = _Network(model)
  if net.needs_z:
    if z is None:
      raise ValueError('this decoder is conditioned on latents: pass z.')
    z = tf.convert_to_tensor(z, tf.float32)
    batch_size = int(z.shape[0])
  else:
    if z is not None:
      raise ValueError('this decoder takes no latents: pass z=None and batch_size.')
    if batch_size is None:
      raise ValueError('batch_size is needed without latents.')
    batch_size = int(batch_size)
  total = net.height * net.width
  num_pixels = total if num_pixels is None else int(num_pixels)
  if not 0 <= num_pixels <= total:
    raise ValueError(f'num_pixels={num_pixels} must be in [0, {total}].')
  if not float(temperature) > 0:
    raise ValueError(f'temperature must be > 0, got {temperature}.')
  key = (mode, batch_size, bool(return_params), bool(jit_compile), z is None)
  functions = _COMPILED.setdefault(model, {})
  if key not in functions:
    build = _build_cached if mode == 'cached' else _build_naive
    # The function holds the decoder's layers, not the model, so the cache entry
    # does not keep the model alive.
    functions[key] = tf.function(build(net, batch_size, bool(return_params)),
                                 jit_compile=jit_compile, autograph=False)
  return functions[key](tf.convert_to_tensor(seed, tf.int32), z,
                        tf.constant(temperature, tf.float32),
                        tf.constant(num_pixels, tf.int32))


def sample_cached(model, z, seed, temperature=1.0, batch_size=None, num_pixels=None,
                  return_params=False, jit_compile=False):
  """Samples images pixel by pixel with row and attention caches (module docstring).

  Args:
    model: `delta_vae_image`, `ar_image` or `vlae_image`.
    z: latents (`[B, H, d]`, `[B, d]`), or None for `ar_image`.
    seed: int32 `[2]` stateless seed; pixel p uses `fold_in(seed, p)`.
    temperature: > 0, see the module docstring.
    batch_size: B when z is None.
    num_pixels: generate only the first `num_pixels` pixels in raster order (the
      rest stay 0); default all.
    return_params: also return the DMOL parameters `[B, H, W, P]` each pixel was
      sampled from (before temperature; 0 for pixels not generated).
    jit_compile: compile the whole loop with XLA.

  Returns:
    uint8 `[B, H, W, C]` images, or `(images, params)` with `return_params`.
  """
  return _sample('cached', model, z, seed, temperature, batch_size, num_pixels,
                 return_params, jit_compile)


def sample_naive(model, z, seed, temperature=1.0, batch_size=None, num_pixels=None,
                 return_params=False, jit_compile=False):
  """Like `sample_cached`, running the whole decoder on the canvas for every pixel."""
  return _sample('naive', model, z, seed, temperature, batch_size, num_pixels,
                 return_params, jit_compile)
