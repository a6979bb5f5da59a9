"""Cached image sampler == naive sampler; temperature; pictures."""

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta.decode import image_sampler
from t2t_delta.decode import pictures
from t2t_delta.distributions import dmol
from t2t_delta.errors import UserError
from t2t_delta.models import ar_image
from t2t_delta.models import delta_vae_image
from t2t_delta.models import vae_conv
from t2t_delta.models import vlae_image

from tiny_problems import ImagesOfShape

# Two attention blocks with 2 layers (after each layer), 2 heads, causal
# cross-attention to the row latents.
TINY = dict(num_encoder_layers=1, num_decoder_layers=2, encoder_hidden=8,
            decoder_hidden=8, aux_hidden=8, encoder_filter=16, decoder_filter=16,
            num_encoder_attention=1, num_decoder_attention=2, num_heads=2,
            num_components=3, dropout_rate=0.0, latent_dim=3)


def _perturb(model, scale=0.3, seed=0):
  """Random non-zero weights everywhere (e.g. gate projections start small)."""
  rng = np.random.RandomState(seed)
  for v in model.trainable_variables:
    v.assign(v + scale * rng.standard_normal(v.shape).astype(np.float32))
  return model


def _check_equal(model, z, batch_size=None, temperature=1.0):
  seed = tf.constant([7, 11])
  cached, cached_params = image_sampler.sample_cached(
      model, z, seed, temperature=temperature, batch_size=batch_size,
      return_params=True)
  naive, naive_params = image_sampler.sample_naive(
      model, z, seed, temperature=temperature, batch_size=batch_size,
      return_params=True)
  assert cached.dtype == tf.uint8
  np.testing.assert_allclose(cached_params.numpy(), naive_params.numpy(), atol=2e-5)
  np.testing.assert_array_equal(cached.numpy(), naive.numpy())
  # The images are not trivially constant.
  assert len(np.unique(cached.numpy())) > 10
  return cached.numpy(), cached_params.numpy()


@pytest.fixture(scope='module')
def rgb_model():
  return _perturb(delta_vae_image.DeltaVaeImage(ImagesOfShape((5, 6, 3)), **TINY))


def test_cached_equals_naive_delta_vae_rgb(rgb_model):
  z = rgb_model.prior().sample(3, seed=tf.constant([1, 2]))
  images, params = _check_equal(rgb_model, z)
  assert images.shape == (3, 5, 6, 3)
  # Teacher-forced decoder on the sampled images gives the same parameters.
  full = rgb_model.decoder_output(tf.cast(images, tf.float32) / 127.5 - 1., z)
  np.testing.assert_allclose(params, full.numpy(), atol=2e-5)


def test_cached_equals_naive_grey_full_cross_attention_and_temperature():
  model = _perturb(delta_vae_image.DeltaVaeImage(
      ImagesOfShape((4, 5, 1)), encoder_structure='non_causal', **TINY))
  z = model.prior().sample(2, seed=tf.constant([3, 4]))
  images, _ = _check_equal(model, z, temperature=0.6)
  assert images.shape == (2, 4, 5, 1)


def test_cached_equals_naive_with_latents_in_the_gated_blocks():
  model = _perturb(delta_vae_image.DeltaVaeImage(
      ImagesOfShape((5, 4, 3)), latent_in_blocks=True, **TINY))
  z = model.prior().sample(2, seed=tf.constant([8, 9]))
  images, params = _check_equal(model, z)
  full = model.decoder_output(tf.cast(images, tf.float32) / 127.5 - 1., z)
  np.testing.assert_allclose(params, full.numpy(), atol=2e-5)


def test_cached_equals_naive_ar_image():
  model = _perturb(ar_image.ArImage(
      ImagesOfShape((5, 4, 3)), num_decoder_layers=3, decoder_hidden=8, decoder_filter=16,
      num_decoder_attention=1, num_heads=2, num_components=3, dropout_rate=0.0))
  images, _ = _check_equal(model, None, batch_size=2)
  assert images.shape == (2, 5, 4, 3)


def test_cached_equals_naive_vlae():
  model = _perturb(vlae_image.VlaeImage(
      ImagesOfShape((4, 4, 1)), latent_dim=4, num_decoder_layers=2, decoder_hidden=8,
      decoder_filter=8, num_components=3, encoder_hidden=8, context_size=8,
      prior='standard_normal'))
  _check_equal(model, tf.random.stateless_normal([2, 4], [0, 1]))


def test_partial_sampling_and_seeds(rgb_model):
  z = rgb_model.prior().sample(3, seed=tf.constant([5, 6]))
  full = image_sampler.sample_cached(rgb_model, z, [1, 2]).numpy()
  part = image_sampler.sample_cached(rgb_model, z, [1, 2], num_pixels=8).numpy()
  flat_full = full.reshape(3, 30, 3)
  flat_part = part.reshape(3, 30, 3)
  np.testing.assert_array_equal(flat_part[:, :8], flat_full[:, :8])
  assert not flat_part[:, 8:].any()
  other = image_sampler.sample_cached(rgb_model, z, [1, 3]).numpy()
  assert not np.array_equal(other, full)
  again = image_sampler.sample_cached(rgb_model, z, [1, 2]).numpy()
  np.testing.assert_array_equal(again, full)


def test_temperature_scales_logits_and_scales():
  channels, k = 3, 2
  params = tf.random.stateless_normal([4, dmol.dmol_num_params(channels, k)], [0, 1])
  hot = image_sampler.apply_temperature(params, channels, k, 0.5)
  logits, locs, log_scales, coeffs = dmol.split_network_output(params, channels, k)
  h_logits, h_locs, h_log_scales, h_coeffs = dmol.split_network_output(hot, channels, k)
  np.testing.assert_allclose(h_logits, logits / 0.5, rtol=1e-6)
  np.testing.assert_allclose(h_locs, locs)
  np.testing.assert_allclose(h_coeffs, coeffs)
  np.testing.assert_allclose(h_log_scales, log_scales + np.log(0.5), rtol=1e-6,
                             atol=1e-6)
  same = image_sampler.apply_temperature(params, channels, k, 1.0)
  np.testing.assert_array_equal(same.numpy(), params.numpy())


def test_errors():
  model = delta_vae_image.DeltaVaeImage(ImagesOfShape((4, 4, 3)), **TINY)
  with pytest.raises(ValueError, match='pass z'):
    image_sampler.sample_cached(model, None, [0, 0], batch_size=2)
  with pytest.raises(ValueError, match='num_pixels'):
    image_sampler.sample_cached(model, tf.zeros([1, 4, 3]), [0, 0], num_pixels=17)

  with pytest.raises(UserError, match="'vae_conv' has no autoregressive image decoder"):
    image_sampler.check_model(vae_conv.VaeConv(ImagesOfShape((4, 4, 3))))


def test_models_declare_their_image_decoder():
  model = vae_conv.VaeConv(ImagesOfShape((4, 4, 3)))
  assert model.image_decoder is None
  with pytest.raises(UserError, match='no autoregressive image decoder'):
    image_sampler.sample_cached(model, tf.zeros([1, 16]), [0, 0])
  rgb = delta_vae_image.DeltaVaeImage(ImagesOfShape((4, 4, 3)), **TINY)
  assert rgb.image_decoder is rgb.decoder
  assert rgb.image_decoder.image_shape == (4, 4, 3)


def test_tile_grid_layout(tmp_path):
  images = np.zeros((2, 3, 4, 5, 3), np.uint8)
  images[1, 2] = 255
  grid = pictures.tile(images)            # 4x5 tiles are upscaled x4, 2 px separators
  assert grid.shape == (2 * 16 + 3 * 2, 3 * 20 + 4 * 2, 3)
  assert (grid[:2] == pictures.SEPARATOR_VALUE).all()
  assert (grid[2 + 16 + 2:2 + 16 + 2 + 16, 2 + 2 * 22:2 + 2 * 22 + 20] == 255).all()
  grey = pictures.tile(np.zeros((3, 64, 64, 1), np.uint8))
  assert grey.shape == (66, 3 * 64 + 4, 1)
  png, npz = pictures.write_png_and_npz(str(tmp_path / 'g.png'), images, z=np.ones(2))
  from PIL import Image
  assert Image.open(png).size == (grid.shape[1], grid.shape[0])
  with np.load(npz) as data:
    np.testing.assert_array_equal(data['images'], images)
    assert data['z'].shape == (2,)
