"""vlae_image: outputs, rate decomposition, causal decoder, bad choices."""

import numpy as np
import pytest
import tensorflow as tf

import t2t_delta  # noqa: F401
from t2t_delta.errors import UserError
from t2t_delta.models import vlae_image

from tiny_problems import ImagesOfShape

TINY = dict(latent_dim=3, num_encoder_layers=2, encoder_hidden=4, context_size=8,
            num_decoder_layers=2, decoder_hidden=8, decoder_filter=8, num_components=2,
            prior_hidden=(8,), iaf_hidden=(8,))


def _images(batch=3, seed=0):
  rng = np.random.RandomState(seed)
  return {'image': tf.constant(rng.randint(0, 256, (batch, 4, 4, 3)), tf.uint8)}


def test_vlae_outputs_and_rate_decomposition():
  for posterior in ('gaussian', 'iaf'):
    model = vlae_image.VlaeImage(ImagesOfShape(), posterior=posterior, **TINY)
    out = model(_images(), training=True, seed=tf.constant([1, 2]))
    assert out['distortion'].shape == out['rate'].shape == (3,)
    assert out['rate_per_group'].shape == (3, 3)
    np.testing.assert_allclose(tf.reduce_sum(out['rate_per_group'], -1), out['rate'],
                               rtol=1e-5, atol=1e-5)
    assert model.posterior_mean(_images()).shape == (3, 3)
    assert model.committed_rate() is None


def test_vlae_single_sample_rate_is_unbiased_for_the_kl():
  """Gaussian posterior + standard normal prior: the sample estimate is not used,
  the AF prior with zero flow equals N(0, I): both rates agree on average."""
  exact = vlae_image.VlaeImage(ImagesOfShape(), prior='standard_normal', **TINY)
  sampled = vlae_image.VlaeImage(ImagesOfShape(), prior='af', num_prior_steps=0, **TINY)
  repeats = 2000
  features = {'image': tf.tile(_images(2)['image'], [repeats, 1, 1, 1])}
  kl = exact(features, training=False, seed=tf.constant([0, 0]))['rate'].numpy()
  estimates = sampled(features, training=False, seed=tf.constant([1, 1]))['rate']
  estimates = estimates.numpy().reshape(repeats, 2).mean(axis=0)
  np.testing.assert_allclose(estimates, kl[:2], atol=0.1)


def test_vlae_decoder_is_causal_and_local():
  model = vlae_image.VlaeImage(ImagesOfShape(), **dict(TINY, num_decoder_layers=1))
  x = tf.random.uniform([1, 4, 4, 3], -1, 1)
  z = tf.zeros([1, 3])
  with tf.GradientTape() as tape:
    tape.watch(x)
    out = tf.reduce_sum(model.decoder(x, z)[0, 2, 2])
  grad = np.abs(tape.gradient(out, x).numpy()[0]).sum(-1)
  assert grad[2, 2] == 0 and grad[2, 3] == 0 and grad[3].sum() == 0   # causal
  assert grad[2, 1] > 0                                                   # sees left


def test_bad_choices_are_user_errors():
  with pytest.raises(UserError, match='posterior'):
    vlae_image.VlaeImage(ImagesOfShape(), posterior='nope', **TINY)
  with pytest.raises(UserError, match='num_iaf_steps'):
    vlae_image.VlaeImage(ImagesOfShape(), posterior='iaf', num_iaf_steps=0,
                         **{k: v for k, v in TINY.items()})
