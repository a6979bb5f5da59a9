"""`vae_conv` and `vae_bow`: small VAEs with factorised decoders and a N(0, 1) prior.

These are the simplest latent-variable models of the toolkit: one global latent vector
per example, a decoder that predicts every pixel (or token position) independently
given z, the analytic Gaussian KL as the rate. They never collapse (the decoder is too
weak to ignore z) and serve as a fast smoke test of the whole training loop.
"""

import tensorflow as tf
import tensorflow_probability as tfp

from t2t_delta import registry
from t2t_delta.layers import core
from t2t_delta.models import base

tfd = tfp.distributions


def _gaussian_posterior(params):
  loc, raw_scale = tf.split(tf.cast(params, tf.float32), 2, axis=-1)
  return tfd.Independent(tfd.Normal(loc, tf.nn.softplus(raw_scale) + 1e-4), 1)


def _standard_normal(latent_dim):
  return tfd.Independent(tfd.Normal(tf.zeros([latent_dim]), tf.ones([latent_dim])), 1)


@registry.register_model
class VaeConv(base.LatentVariableModel):
  """Conv encoder, global latent, factorised 256-way categorical pixels, N(0,1) prior."""

  def __init__(self, problem, latent_dim=16, hidden=32, seed=0):
    super().__init__(problem)
    h, w, c = problem.image_shape
    if h % 4 or w % 4:
      raise ValueError(f'vae_conv needs image sides divisible by 4, got {h}x{w}.')
    seeds = core.SeedSequence(seed)
    self.latent_dim, self.image_shape = latent_dim, (h, w, c)
    self.enc1 = core.Conv2D(c, hidden, 3, 2, seeds=seeds, name='enc1')
    self.enc2 = core.Conv2D(hidden, 2 * hidden, 3, 2, seeds=seeds, name='enc2')
    self.enc_out = core.Dense(2 * hidden * (h // 4) * (w // 4), 2 * latent_dim,
                              seeds=seeds, name='enc_out')
    self.dec_in = core.Dense(latent_dim, hidden * (h // 4) * (w // 4), seeds=seeds,
                             name='dec_in')
    self.dec1 = core.Conv2D(hidden, hidden, 3, seeds=seeds, name='dec1')
    self.dec2 = core.Conv2D(hidden, c * 256, 3, seeds=seeds, name='dec2')
    self.hidden = hidden

  def encode(self, features, training=False, seed=None):
    x = tf.cast(features['image'], tf.float32) / 127.5 - 1.0
    x = tf.nn.relu(self.enc1(x))
    x = tf.nn.relu(self.enc2(x))
    x = tf.reshape(x, [tf.shape(x)[0], -1])
    return _gaussian_posterior(self.enc_out(x))

  def prior(self):
    return _standard_normal(self.latent_dim)

  def likelihood(self, features, z, training=False, seed=None):
    h, w, c = self.image_shape
    y = tf.reshape(self.dec_in(z), [-1, h // 4, w // 4, self.hidden])
    y = tf.image.resize(y, [h, w], method='nearest')
    y = tf.nn.relu(self.dec1(y))
    logits = tf.reshape(self.dec2(y), [-1, h, w, c, 256])
    return tfd.Independent(tfd.Categorical(logits=logits), 3)

  def __call__(self, features, training, seed):
    posterior = self.encode(features)
    z = posterior.sample(seed=seed)
    likelihood = self.likelihood(features, z)
    distortion = -likelihood.log_prob(tf.cast(features['image'], tf.int32))
    rate = tfd.kl_divergence(posterior, self.prior())
    return {'distortion': distortion, 'rate': rate,
            'rate_per_group': _kl_per_dim(posterior)}


def _kl_per_dim(posterior):
  """[B, d] KL of each latent dimension against N(0, 1)."""
  return tfd.kl_divergence(posterior.distribution, tfd.Normal(0.0, 1.0))


@registry.register_model
class VaeBow(base.LatentVariableModel):
  """Text VAE: mean-pooled encoder, global latent, position-wise factorised decoder."""

  def __init__(self, problem, latent_dim=16, hidden=64, seed=0):
    super().__init__(problem)
    seeds = core.SeedSequence(seed)
    self.latent_dim = latent_dim
    self.max_length, self.vocab_size = problem.max_length, problem.vocab_size
    self.embed = core.Embedding(self.vocab_size, hidden, seeds=seeds, name='embed')
    self.enc = core.Dense(hidden, 2 * latent_dim, seeds=seeds, name='enc')
    self.dec_hidden = core.Dense(latent_dim, hidden, seeds=seeds, name='dec_hidden')
    self.positions = tf.Variable(
        tf.random.stateless_normal([self.max_length, hidden], seeds(), stddev=0.1),
        name='positions')
    self.dec_out = core.Dense(hidden, self.vocab_size, seeds=seeds, name='dec_out')

  def encode(self, features, training=False, seed=None):
    mask = tf.cast(features['mask'], tf.float32)[..., None]
    pooled = tf.reduce_sum(self.embed(features['targets']) * mask, axis=1) / tf.maximum(
        tf.reduce_sum(mask, axis=1), 1.0)
    return _gaussian_posterior(self.enc(pooled))

  def prior(self):
    return _standard_normal(self.latent_dim)

  def likelihood(self, features, z, training=False, seed=None):
    hidden = tf.nn.relu(self.dec_hidden(z)[:, None, :] + self.positions)
    return tfd.Categorical(logits=self.dec_out(hidden))   # batch [B, T]

  def __call__(self, features, training, seed):
    posterior = self.encode(features)
    z = posterior.sample(seed=seed)
    log_probs = self.likelihood(features, z).log_prob(features['targets'])
    distortion = -tf.reduce_sum(log_probs * tf.cast(features['mask'], tf.float32), axis=1)
    rate = tfd.kl_divergence(posterior, self.prior())
    return {'distortion': distortion, 'rate': rate,
            'rate_per_group': _kl_per_dim(posterior)}
