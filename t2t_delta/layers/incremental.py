"""The interface of autoregressive image decoders: a full pass and an incremental form.

An `IncrementalImageDecoder` is p(x | z) over images `[H, W, C]` in raster order (rows
top to bottom, columns left to right), strictly causal in pixels: its output at pixel
`p` (the parameters of a discretized logistic mixture, `P` of them) depends on the
pixels before `p` and on the latents `z`, never on pixel `p` itself or later ones.
It is evaluated in two ways:

* `__call__(x, z)`: the full pass over a whole image `x` `[B, H, W, C]` in [-1, 1]
  (teacher forcing), returning `[B, H, W, P]`.
* the incremental form, for generation one pixel at a time:

      cache = decoder.init_cache(batch_size, z)         # static shapes
      for row in range(H):
        cache = decoder.start_row(cache, row)           # the row's shared work
        for column in range(W):
          params, cache = decoder.step(cache, row, column)   # [B, P] at the pixel
          x = ...                                       # sampled from params, [B, C]
          cache = decoder.append(cache, row, column, x)      # the pixel's value

  `step` returns what `__call__` returns at `(row, column)` for an image whose pixels
  before it are the ones appended, computed from cached state in about the work of
  two positions instead of `H * W`. It evaluates the same layers on the same values
  (windows padded like the full pass, attention over the same keys with the same
  masks), so it differs from the full pass only by float32 rounding (matrix products
  of other shapes). How each decoder caches is explained with its layers
  (`pixel.IncrementalStacks`, `pixelsnail.PixelSnail`).

The cache is a nested structure of tensors whose shapes depend only on the batch
size; updates write in place (`tf.tensor_scatter_nd_update`), so the loops above run
inside a compiled `tf.while_loop` that is traced once per batch size. Rows and
columns may be tensors. Every pixel must be appended, in raster order, before the
next `step`, and every row must be started before its first `step`.
"""

import tensorflow as tf


class IncrementalImageDecoder(tf.Module):
  """Base class of image decoders with a full pass and an incremental form.

  Subclasses set `image_shape` `(H, W, C)`, `num_components` (K of the mixture) and
  `takes_latents` (whether `z` is required; otherwise it must be None), and
  implement the methods below (module docstring).
  """

  image_shape = None
  num_components = None
  takes_latents = False

  def __call__(self, x, z=None, training=False, seed=None):
    """x `[B, H, W, C]` in [-1, 1] -> DMOL parameters `[B, H, W, P]`."""
    raise NotImplementedError

  def init_cache(self, batch_size, z=None, dtype=tf.float32):
    """The cache before the first pixel, computing in `dtype`."""
    raise NotImplementedError

  def start_row(self, cache, row):
    """The cache ready for the pixels of `row` (every pixel above it appended)."""
    raise NotImplementedError

  def step(self, cache, row, column):
    """(DMOL parameters `[B, P]` at `(row, column)`, updated cache)."""
    raise NotImplementedError

  def append(self, cache, row, column, x):
    """The cache with pixel `(row, column)` set to `x` `[B, C]` in [-1, 1]."""
    raise NotImplementedError
