"""Autoregressive image model without latents: the δ-VAE decoder alone.

The paper's decoder baseline: the same PixelSNAIL-like network and discretized
logistic mixture as `delta_vae_image`, without cross-attention to latents. The rate
is identically zero, so the negative ELBO is the exact negative log-likelihood.
"""

import tensorflow as tf

from t2t_delta import registry
from t2t_delta.layers import core
from t2t_delta.models import base
from t2t_delta.models import image_common


@registry.register_model
class ArImage(base.Model):
  """PixelSNAIL-like autoregressive image model (no latents; rate 0).

  Args (gin-configurable as `ar_image.<name>`):
    num_decoder_layers, decoder_hidden, decoder_filter, num_decoder_attention,
    num_heads, num_components, dropout_rate, weight_norm, compute_dtype: as in
    `delta_vae_image`.
    seed: seed of the initial weights.
  """

  def __init__(self, problem, num_decoder_layers=4, decoder_hidden=64,
               decoder_filter=256, num_decoder_attention=1, num_heads=2,
               num_components=32, dropout_rate=0.2, weight_norm=False,
               compute_dtype='auto', seed=0, name=None):
    super().__init__(problem, name=name)
    model_name = self.registered_name or 'ar_image'
    self.image_shape = image_common.image_shape_of(problem, model_name)
    self.compute_dtype = base.resolve_compute_dtype(compute_dtype, model_name)
    with self.name_scope:
      self.decoder = image_common.ImageDecoder(
          self.image_shape, num_decoder_layers, decoder_hidden, decoder_filter,
          num_decoder_attention, num_heads, num_components,
          dropout_rate=dropout_rate, weight_norm=weight_norm,
          seeds=core.SeedSequence(seed), name='decoder')

  @property
  def image_decoder(self):
    """p(x | z) with its incremental form (for the image sampler)."""
    return self.decoder

  def decoder_output(self, x, training=False, seed=None):
    """DMOL parameters `[B, H, W, P]` for images `x` in [-1, 1] (teacher forcing)."""
    return self.decoder(x, training=training, seed=seed)

  def likelihood(self, features, training=False, seed=None):
    """p(x) as a `DiscretizedLogisticMixture` with event `[H, W, C]`."""
    x = image_common.images_to_float(features['image'], self.compute_dtype)
    return self.decoder.distribution(self.decoder_output(x, training, seed))

  def __call__(self, features, training, seed):
    images = features['image']
    distortion = -self.likelihood(features, training, seed).log_prob(images)
    return {'distortion': distortion, 'rate': tf.zeros_like(distortion)}
