"""Image grids as PNG files, with the raw images saved beside them.

    grid = tile(images)                 # images uint8 [rows, cols, H, W, C]
    write_png_and_npz('samples.png', images, z=z)

Tiles are separated by 1 px (2 px when upscaled) of mid-grey, small images are
upscaled by nearest-neighbour pixel repetition so that they are visible (x4 up to
16 px, x2 up to 48 px), and grey-scale images are written as grey-scale PNGs.
"""

import os

import numpy as np
from PIL import Image

SEPARATOR_VALUE = 128


def default_upscale(height, width):
  """x4 for sides up to 16 px, x2 up to 48 px, else x1."""
  side = max(int(height), int(width))
  return 4 if side <= 16 else 2 if side <= 48 else 1


def tile(images, upscale=None, separator=None):
  """uint8 grid `[rows * h' + (rows + 1) s, cols * w' + (cols + 1) s, C]`.

  Args:
    images: uint8 `[rows, cols, H, W, C]` (C = 1 or 3), or `[N, H, W, C]` for one row.
    upscale: integer pixel repetition factor; default `default_upscale(H, W)`.
    separator: separator width in px; default 1, or 2 when upscaled.
  """
  images = np.asarray(images)
  if images.ndim == 4:
    images = images[None]
  if images.ndim != 5 or images.shape[-1] not in (1, 3):
    raise ValueError(f'expected uint8 [rows, cols, H, W, C] with C in (1, 3), got '
                     f'shape {images.shape}.')
  images = np.clip(images, 0, 255).astype(np.uint8)
  rows, cols, height, width, channels = images.shape
  upscale = default_upscale(height, width) if upscale is None else int(upscale)
  separator = (2 if upscale > 1 else 1) if separator is None else int(separator)
  if upscale > 1:
    images = images.repeat(upscale, axis=2).repeat(upscale, axis=3)
  h, w = height * upscale, width * upscale
  grid = np.full((rows * h + (rows + 1) * separator, cols * w + (cols + 1) * separator,
                  channels), SEPARATOR_VALUE, np.uint8)
  for r in range(rows):
    for c in range(cols):
      top = separator + r * (h + separator)
      left = separator + c * (w + separator)
      grid[top:top + h, left:left + w] = images[r, c]
  return grid


def write_png(path, grid):
  """Writes a uint8 `[H, W, C]` grid as PNG (grey-scale for C = 1)."""
  grid = np.asarray(grid, np.uint8)
  image = Image.fromarray(grid[..., 0], 'L') if grid.shape[-1] == 1 else Image.fromarray(
      grid, 'RGB')
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  image.save(path, format='PNG')


def npz_path(png_path):
  """`samples.png` -> `samples.npz`."""
  root, _ = os.path.splitext(png_path)
  return root + '.npz'


def write_png_and_npz(png_path, grid_images, upscale=None, **arrays):
  """Tiles `grid_images` into `png_path` and saves the raw arrays beside it.

  Returns `(png_path, npz_path)`. The .npz holds `arrays` by name and, unless an
  `images` array is given, the tiles themselves (uint8, as given) under `images`.
  """
  write_png(png_path, tile(grid_images, upscale=upscale))
  arrays.setdefault('images', np.asarray(grid_images, np.uint8))
  path = npz_path(png_path)
  np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})
  return png_path, path
