"""The image decoders' incremental form reproduces their full pass at every pixel."""

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta.layers import core
from t2t_delta.layers import incremental
from t2t_delta.models import image_common
from t2t_delta.models import vlae_image

B = 2


def _perturb(module, scale=0.3, seed=0):
  """Random non-zero weights everywhere (gate and latent projections start small or
  at zero, which would hide errors on those paths)."""
  rng = np.random.RandomState(seed)
  for v in module.trainable_variables:
    v.assign(v + scale * rng.standard_normal(v.shape).astype(np.float32))
  return module


def _pixelsnail(shape, latent_dim=None, **kwargs):
  return image_common.ImageDecoder(
      shape, num_layers=kwargs.pop('num_layers', 2), hidden_size=8, filter_size=12,
      num_attention_layers=kwargs.pop('num_attention_layers', 2), num_heads=2,
      num_components=3, latent_dim=latent_dim, seeds=core.SeedSequence(3), **kwargs)


def _incremental_outputs(decoder, x, z):
  """`[B, H, W, P]`: `step` at every pixel, appending the pixels of `x` in order."""
  height, width, _ = decoder.image_shape
  cache = decoder.init_cache(B, z)
  rows = []
  for i in range(height):
    cache = decoder.start_row(cache, tf.constant(i))
    row = []
    for j in range(width):
      params, cache = decoder.step(cache, tf.constant(i), tf.constant(j))
      row.append(params)
      cache = decoder.append(cache, tf.constant(i), tf.constant(j), x[:, i, j])
    rows.append(tf.stack(row, axis=1))
  return tf.stack(rows, axis=1).numpy()


def _assert_incremental_matches_full(decoder, z):
  assert isinstance(decoder, incremental.IncrementalImageDecoder)
  height, width, channels = decoder.image_shape
  x = tf.random.stateless_uniform([B, height, width, channels], [4, 5], -1., 1.)
  full = decoder(x, z).numpy()
  # The outputs vary over pixels and images, so a cache that read the wrong
  # position, row or image would show.
  assert full.reshape(-1, full.shape[-1]).std(axis=0).min() > 0.05
  np.testing.assert_allclose(_incremental_outputs(decoder, x, z), full, atol=2e-5,
                             rtol=0)


@pytest.mark.parametrize('structure', ['causal', 'full'])
def test_pixelsnail_with_latent_rows(structure):
  shape = (4, 5, 3)
  decoder = _perturb(_pixelsnail(shape, latent_dim=3, latent_structure=structure,
                                 latent_in_blocks=structure == 'causal'))
  z = tf.random.stateless_normal([B, shape[0], 3], [1, 2])
  _assert_incremental_matches_full(decoder, z)


def test_pixelsnail_without_latents():
  decoder = _perturb(_pixelsnail((5, 4, 1), num_layers=3, num_attention_layers=1))
  assert not decoder.takes_latents
  _assert_incremental_matches_full(decoder, None)


def test_gated_pixelcnn():
  shape = (4, 5, 3)
  decoder = _perturb(vlae_image.LocalPixelCnn(shape, num_layers=3, hidden_size=8,
                                              filter_size=12, latent_dim=4,
                                              num_components=3,
                                              seeds=core.SeedSequence(2)))
  assert decoder.takes_latents
  _assert_incremental_matches_full(decoder, tf.random.stateless_normal([B, 4], [3, 4]))


def test_appended_pixels_are_what_later_steps_read():
  """A different value appended at pixel 0 changes the output at pixel 1."""
  decoder = _perturb(_pixelsnail((3, 3, 1), latent_dim=2, num_attention_layers=1))
  z = tf.random.stateless_normal([B, 3, 2], [6, 7])
  outputs = []
  for value in (-0.5, 0.5):
    cache = decoder.start_row(decoder.init_cache(B, z), 0)
    _, cache = decoder.step(cache, 0, 0)
    cache = decoder.append(cache, 0, 0, tf.fill([B, 1], value))
    outputs.append(decoder.step(cache, 0, 1)[0].numpy())
  assert np.abs(outputs[0] - outputs[1]).max() > 1e-3
