"""Ancestral sampling of images from the autoregressive image decoders, cached and naive.

Both samplers fill the canvas in raster order (rows top to bottom, columns left to
right), one pixel (all of its channels) per iteration of a compiled
`tf.while_loop`, and differ only in how the network output of pixel `p` is obtained:

* `sample_naive` (the reference): every iteration runs the whole decoder on the
  current canvas (`[B, H, W, C]`; pixels not yet generated hold 0 and cannot
  influence pixel `p`, the decoder being strictly causal) and keeps the output at
  `p`. Its cost per pixel is the cost of a full forward pass.
* `sample_cached`: the decoder's incremental form (`t2t_delta.layers.incremental`):
  `start_row` once per row, then per pixel `step` (the output at `p` from cached
  state) and `append` (the sampled pixel joins the caches). Each decoder's layers
  explain what they cache; per pixel it costs about two positions of the network
  plus attention reads instead of `H * W` positions. All caches have static shapes,
  so the loop compiles once per batch shape.

The decoder is the model's declared `image_decoder` (`delta_vae_image`, `ar_image`
and `vlae_image` have one); other models raise a UserError.

Randomness and exactness. Pixel `p` is sampled with
`dmol.sample_pixel(params, C, K, fold_in(seed, p))` in both samplers, so for the
same seed, latents, batch size and `jit_compile` both draw the same random numbers,
and they produce identical images as long as their network outputs agree; the
incremental form evaluates the same layers on the same values, so its outputs
differ from the full pass only by float32 rounding (matrix products of different
shapes), which can change a sampled value only if it falls within ~1e-4 of a
rounding boundary. (XLA's stateless generators are not bit-identical to the TF
kernels, so compare runs with the same `jit_compile`.) A pixel's random numbers also
depend on its position in the batch: decode with a fixed batch size to reproduce.

Temperature `T`. Before sampling, the mixture logits are divided by `T` and every
logistic scale is multiplied by `T` (log-scales shifted by log T, then floored at
-7 as usual); the channel coupling is unchanged. `T = 1` leaves the parameters
untouched, `T < 1` sharpens both the component choice and each component.

Latents: `[B, H, d]` for `delta_vae_image`, `[B, d]` for `vlae_image`, None for
`ar_image` (pass `batch_size`).

    images = sample_cached(model, z, seed=tf.constant([1, 2]), temperature=0.9)
    images.shape  # [B, H, W, C] uint8
"""

import weakref

import tensorflow as tf

from t2t_delta import distributions
from t2t_delta.distributions import dmol
from t2t_delta.errors import UserError
from t2t_delta.models import image_common

_COMPILED = weakref.WeakKeyDictionary()


def image_decoder(model):
  """The `base.Model`'s declared `IncrementalImageDecoder`; UserError if it has none."""
  decoder = model.image_decoder
  if decoder is None:
    raise UserError(f'model {model.display_name!r} has no autoregressive image '
                    'decoder; the image sampler supports delta_vae_image, ar_image '
                    'and vlae_image.')
  return decoder


def check_model(model):
  """UserError unless the samplers support `model`'s decoder."""
  image_decoder(model)


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


def _sample_at(decoder, params, temperature, seed, p):
  """Pixel values `[B, C]` (float, 0..255) of pixel `p` from its parameters `[B, P]`."""
  channels, k = decoder.image_shape[2], decoder.num_components
  params = apply_temperature(tf.cast(params, tf.float32), channels, k, temperature)
  return dmol.sample_pixel(params, channels, k,
                           tf.random.experimental.stateless_fold_in(seed, p))


def _buffers(decoder, batch_size, return_params):
  """Zero canvas `[H, W, B, C]` and parameter buffer `[H, W, B, P or 1]`."""
  height, width, channels = decoder.image_shape
  num_params = (distributions.dmol_num_params(channels, decoder.num_components)
                if return_params else 1)
  return (tf.zeros([height, width, batch_size, channels]),
          tf.zeros([height, width, batch_size, num_params]))


def _to_output(canvas, params_buf, return_params):
  """Internal `[H, W, B, ...]` buffers -> `[B, H, W, ...]`."""
  images = dmol.to_pixels(tf.transpose(canvas, [2, 0, 1, 3]), tf.uint8)
  if return_params:
    return images, tf.transpose(params_buf, [2, 0, 1, 3])
  return images


# ---- naive ------------------------------------------------------------------------------
def _build_naive(decoder, batch_size, return_params):
  height, width, _ = decoder.image_shape

  def run(seed, z, temperature, limit):
    canvas, params_buf = _buffers(decoder, batch_size, return_params)

    def body(p, canvas, params_buf):
      x = image_common.images_to_float(tf.transpose(canvas, [2, 0, 1, 3]))
      out = decoder(x, z)
      i, j = p // width, p % width
      params = tf.cast(tf.gather_nd(tf.transpose(out, [1, 2, 0, 3]), [[i, j]])[0],
                       tf.float32)
      values = _sample_at(decoder, params, temperature, seed, p)
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
def _build_cached(decoder, batch_size, return_params):
  height, width, _ = decoder.image_shape

  def run(seed, z, temperature, limit):
    canvas, params_buf = _buffers(decoder, batch_size, return_params)
    cache = decoder.init_cache(batch_size, z, tf.float32)

    def row_body(i, canvas, params_buf, cache):
      cache = decoder.start_row(cache, i)

      def col_body(j, canvas, params_buf, cache):
        p = i * width + j
        params, cache = decoder.step(cache, i, j)
        params = tf.cast(params, tf.float32)
        values = _sample_at(decoder, params, temperature, seed, p)        # [B, C]
        canvas = tf.tensor_scatter_nd_update(canvas, [[i, j]], values[None])
        if return_params:
          params_buf = tf.tensor_scatter_nd_update(params_buf, [[i, j]], params[None])
        cache = decoder.append(cache, i, j, image_common.images_to_float(values))
        return j + 1, canvas, params_buf, cache

      _, canvas, params_buf, cache = tf.while_loop(
          lambda j, *_: tf.logical_and(j < width, i * width + j < limit), col_body,
          (tf.constant(0), canvas, params_buf, cache), maximum_iterations=width)
      return i + 1, canvas, params_buf, cache

    _, canvas, params_buf, _ = tf.while_loop(
        lambda i, *_: i * width < limit, row_body,
        (tf.constant(0), canvas, params_buf, cache), maximum_iterations=height)
    return _to_output(canvas, params_buf, return_params)

  return run


# ---- public -----------------------------------------------------------------------------
def _sample(mode, model, z, seed, temperature, batch_size, num_pixels, return_params,
            jit_compile):
  decoder = image_decoder(model)
  if decoder.takes_latents:
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
  height, width, _ = decoder.image_shape
  total = height * width
  num_pixels = total if num_pixels is None else int(num_pixels)
  if not 0 <= num_pixels <= total:
    raise ValueError(f'num_pixels={num_pixels} must be in [0, {total}].')
  if not float(temperature) > 0:
    raise ValueError(f'temperature must be > 0, got {temperature}.')
  key = (mode, batch_size, bool(return_params), bool(jit_compile), z is None)
  functions = _COMPILED.setdefault(model, {})
  if key not in functions:
    build = _build_cached if mode == 'cached' else _build_naive
    # The function holds the decoder, not the model, so the cache entry does not
    # keep the model alive.
    functions[key] = tf.function(build(decoder, batch_size, bool(return_params)),
                                 jit_compile=jit_compile, autograph=False)
  return functions[key](tf.convert_to_tensor(seed, tf.int32), z,
                        tf.constant(temperature, tf.float32),
                        tf.constant(num_pixels, tf.int32))


def sample_cached(model, z, seed, temperature=1.0, batch_size=None, num_pixels=None,
                  return_params=False, jit_compile=False):
  """Samples images pixel by pixel with the decoder's incremental form (module
  docstring).

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
