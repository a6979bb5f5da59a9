"""Small problems, batches and checks shared by the model tests."""

import numpy as np
import tensorflow as tf

from t2t_delta.problems import base as problems_base

from tiny_problems import ImagesOfShape  # noqa: F401  (re-exported)
from tiny_problems import random_images as image_features  # noqa: F401

T, V = 9, 23   # text: max_length, vocabulary size


class TextOfLength(problems_base.TextProblem):
  max_length = T
  vocab_size = V


def text_features(lengths, seed=0):
  rng = np.random.default_rng(seed)
  targets = rng.integers(2, V, size=(len(lengths), T)).astype(np.int32)
  mask = (np.arange(T)[None] < np.array(lengths)[:, None]).astype(np.float32)
  for b, n in enumerate(lengths):
    targets[b, n - 1] = 1
    targets[b, n:] = 0
  return {'targets': tf.constant(targets), 'mask': tf.constant(mask)}


def loss_and_grads(model, features, seed):
  with tf.GradientTape() as tape:
    out = model(features, training=True, seed=seed)
    loss = tf.reduce_mean(out['distortion'] + out['rate'] + out.get('aux_loss', 0.))
  return out, loss, tape.gradient(loss, model.trainable_variables)


def check_output(model, out, batch):
  for key in ('distortion', 'rate'):
    assert out[key].shape == [batch], key
    assert np.all(np.isfinite(out[key].numpy())), key
  if model.has_latents:
    assert out['rate_per_group'].shape == [batch, model.latent_dim]
    np.testing.assert_allclose(tf.reduce_sum(out['rate_per_group'], -1), out['rate'],
                               rtol=1e-5)
    assert out['aux_loss'].shape == [batch]
    for value in out['extras'].values():
      assert value.shape == [batch]
      assert np.all(np.isfinite(value.numpy()))
    # The δ-VAE's rate can never fall below its committed rate.
    assert np.all(out['rate'].numpy() >= model.committed_rate() * (1. - 1e-5))
