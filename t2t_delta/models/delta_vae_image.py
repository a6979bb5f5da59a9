"""δ-VAE for images: one latent per row, AR(1) prior, PixelSNAIL-like decoder.

Razavi et al. (ICLR 2019), §4.1 and appendix E.1.

* Encoder q(z | x). Anti-causal (default): the image is reversed along both spatial
  axes, padded with one column on the right, run through a strictly causal
  `PixelSnail` stack, cropped by the first column and reversed back. In the padded
  reversed image, the output at `(i, j + 1)` depends on the reversed pixels strictly
  before it in raster order, which are exactly the reversed pixels `<= (i, j)`
  (the padding column makes "the next raster position" of `(i, j)` exist in the same
  row). After reversing back, every pixel's feature depends on itself and the pixels
  after it in raster order. Averaging the features over each row gives, for row `t`,
  a summary of rows `>= t`, from which a linear layer produces the d-dimensional
  posterior mean and log-scale: n = H latent steps. Non-causal: an unmasked network
  of the same blueprint, so every latent sees every row.
* Latents (`distributions.LatentSpec`): posterior mean-field Normal `[B, H, d]` with
  scale exp(raw) by default, or the independent δ posterior of appendix D
  (`posterior_type='independent_delta'`, with a standard-normal prior). Prior AR(1)
  per latent dimension with alphas linear in `[alpha_lo, alpha_hi]`, or solved for a
  requested committed rate (`committed_rate_bits`, which solves for `alpha_hi` given
  `alpha_lo`, or for one common alpha when `alpha_lo` is None);
  `prior_type='standard_normal'` sets every alpha to 0 (the collapse-prone baseline).
* Decoder p(x | z): `ImageDecoder` (PixelSNAIL-like, discretized logistic mixture),
  conditioned on a reparameterised posterior sample through cross-attention. With
  the anti-causal encoder, a pixel in row r attends to latent rows `<= r`; with the
  non-causal encoder, to all rows (see `t2t_delta.layers.pixelsnail`).
* Auxiliary prior: an LSTM over the latent rows, fitted to stop-gradient posterior
  samples (`aux_loss`); `extras['rate_aux']` is the single-sample estimate
  log q(z | x) - log p_aux(z), so distortion + rate_aux estimates the negative ELBO
  under the auxiliary prior.

The rate is the exact KL(q(z | x) || p(z)) in nats; the paper uses dropout in the
decoder only, so `encoder_dropout_rate` defaults to 0.
"""

import tensorflow as tf
import tensorflow_probability as tfp

from t2t_delta import distributions
from t2t_delta import registry
from t2t_delta.layers import core
from t2t_delta.layers import pixelsnail
from t2t_delta.models import base
from t2t_delta.models import image_common

tfd = tfp.distributions

ENCODER_STRUCTURES = ('anti_causal', 'non_causal')


class ImageRowEncoder(tf.Module):
  """Image `[B, H, W, C]` in [-1, 1] -> raw posterior parameters `[B, H, 2d]`.

  Args:
    image_shape: `(H, W, C)`.
    structure: 'anti_causal' (row t sees rows >= t) or 'non_causal' (all rows).
    latent_dim: d.
    other arguments: as `pixelsnail.PixelSnail`.
  """

  def __init__(self, image_shape, structure, latent_dim, num_layers, hidden_size,
               filter_size, num_attention_layers, num_heads, dropout_rate=0.0,
               weight_norm=False, seeds=None, name=None):
    super().__init__(name=name)
    height, width, channels = image_shape
    self.structure = structure
    self.latent_dim = int(latent_dim)
    with self.name_scope:
      if structure == 'anti_causal':
        self.net = pixelsnail.PixelSnail(
            (height, width + 1, channels), num_layers, hidden_size, filter_size,
            num_attention_layers=num_attention_layers, num_heads=num_heads,
            dropout_rate=dropout_rate, weight_norm=weight_norm, seeds=seeds,
            name='anti_causal_net')
      else:
        self.net = pixelsnail.NonCausalImageNet(
            image_shape, num_layers, hidden_size, filter_size,
            num_attention_layers=num_attention_layers, num_heads=num_heads,
            dropout_rate=dropout_rate, weight_norm=weight_norm, seeds=seeds,
            name='non_causal_net')
      self.to_params = core.Dense(hidden_size, 2 * self.latent_dim, init_scale=0.1,
                                  seeds=seeds, name='to_params')

  def features(self, x, training=False, seed=None):
    """Per-pixel features `[B, H, W, h]`; anti-causal: pixel p sees pixels >= p."""
    if self.structure == 'non_causal':
      return self.net(x, training=training, seed=seed)
    reversed_x = x[:, ::-1, ::-1, :]
    padded = tf.pad(reversed_x, [[0, 0], [0, 0], [0, 1], [0, 0]])
    out = self.net(padded, training=training, seed=seed)[:, :, 1:, :]
    return out[:, ::-1, ::-1, :]

  def __call__(self, x, training=False, seed=None):
    rows = tf.reduce_mean(tf.nn.elu(self.features(x, training, seed)), axis=2)
    return self.to_params(rows)


@registry.register_model
class DeltaVaeImage(base.DeltaVaeModel):
  """δ-VAE on images: row latents, AR(1) prior, anti-causal encoder, PixelSNAIL decoder.

  Args (gin-configurable as `delta_vae_image.<name>`; defaults are a scaled-down
  version of the paper's CIFAR-10 ablation model, table 4):
    num_encoder_layers, num_decoder_layers: gated conv layers (l_e, l_d).
    encoder_hidden, decoder_hidden, aux_hidden: hidden sizes (h_e, h_d, h_aux).
    encoder_filter, decoder_filter: residual filter sizes (r_e, r_d).
    num_encoder_attention, num_decoder_attention: attention blocks (a_e, a_d).
    num_heads: attention heads.
    num_components: mixture components of the output distribution.
    dropout_rate: decoder dropout (activations, attention weights and outputs).
    encoder_dropout_rate: encoder dropout (the paper uses none).
    latent_dim: d, dimensions of each row's latent.
    alpha_lo, alpha_hi: range of the AR(1) correlations (linearly spaced over d).
    committed_rate_bits: if set, the alphas are solved so that the committed rate
      (for all H rows and d dims) is this many bits per image; `alpha_hi` is then
      ignored (and `alpha_lo` fixed, or None for one common alpha).
    encoder_structure: 'anti_causal' or 'non_causal'.
    prior_type: 'ar1' or 'standard_normal' (alphas all 0).
    posterior_type: 'mean_field' or 'independent_delta' (needs
      prior_type='standard_normal' and committed_rate_bits).
    posterior_scale: 'exp' (default) or 'softplus' (+ 1e-4, the text model's): the
      mean-field posterior's scale as a function of the encoder's raw output.
    weight_norm: weight-normalise the convolutions.
    latent_in_blocks: also feed each row's latent into every gated block of the
      decoder at its row (row-broadcast, causal in rows; see
      `image_common.ImageDecoder`). The paper conditions through attention only.
    zero_init_latent_path: start the decoder's paths from z at zero
      (`image_common.ImageDecoder`).
    posterior_init: 'small' (the posterior head at 0.1 of its Glorot scale: q starts
      near N(0, 1), almost independent of x) or 'informative' (the mean head at
      Glorot scale, so posterior means differ between images from the first step,
      and each dimension's scale at the optimum of its KL for an x-independent mean,
      sigma^2 = (1 - alpha^2) / (1 + alpha^2);
      `LatentSpec.initialize_posterior_head`).
    compute_dtype: 'auto' (bfloat16 on TPU, else float32), 'float32' or 'bfloat16':
      activations of the encoder and decoder networks (variables, posterior, rate
      and the DMOL log-likelihood stay float32).
    seed: seed of the initial weights.
  """

  def __init__(self, problem, num_encoder_layers=4, num_decoder_layers=4,
               encoder_hidden=64, decoder_hidden=64, aux_hidden=256,
               encoder_filter=256, decoder_filter=256, num_encoder_attention=1,
               num_decoder_attention=1, num_heads=2, num_components=32,
               dropout_rate=0.2, encoder_dropout_rate=0.0, latent_dim=32,
               alpha_lo=0.5, alpha_hi=0.95, committed_rate_bits=None,
               encoder_structure='anti_causal', prior_type='ar1',
               posterior_type='mean_field', weight_norm=False,
               latent_in_blocks=False, zero_init_latent_path=False,
               posterior_init='small', posterior_scale='exp', compute_dtype='auto',
               seed=0, name=None):
    super().__init__(problem, name=name)
    model_name = self.registered_name or 'delta_vae_image'
    self.image_shape = image_common.image_shape_of(problem, model_name)
    image_common.check_choice('encoder_structure', encoder_structure,
                              ENCODER_STRUCTURES, model_name)
    height = self.image_shape[0]
    self.latent = distributions.LatentSpec(
        model_name, num_steps=height, latent_dim=int(latent_dim),
        prior_type=prior_type, posterior_type=posterior_type, alpha_lo=alpha_lo,
        alpha_hi=alpha_hi, committed_rate_bits=committed_rate_bits,
        posterior_scale=posterior_scale, posterior_init=posterior_init)
    self.num_steps = height
    self.latent_dim = int(latent_dim)
    self.compute_dtype = base.resolve_compute_dtype(compute_dtype, model_name)
    self.encoder_structure = encoder_structure
    seeds = core.SeedSequence(seed)
    with self.name_scope:
      self.encoder = ImageRowEncoder(
          self.image_shape, encoder_structure, self.latent_dim, num_encoder_layers,
          encoder_hidden, encoder_filter, num_encoder_attention, num_heads,
          dropout_rate=encoder_dropout_rate, weight_norm=weight_norm, seeds=seeds,
          name='encoder')
      self.decoder = image_common.ImageDecoder(
          self.image_shape, num_decoder_layers, decoder_hidden, decoder_filter,
          num_decoder_attention, num_heads, num_components,
          dropout_rate=dropout_rate, latent_dim=self.latent_dim,
          latent_structure='causal' if encoder_structure == 'anti_causal' else 'full',
          weight_norm=weight_norm, seeds=seeds, latent_in_blocks=latent_in_blocks,
          zero_init_latent_path=zero_init_latent_path, name='decoder')
      self.aux_prior = distributions.LSTMPrior(height, self.latent_dim, aux_hidden,
                                               seed=seed, name='aux_prior')
    self.latent.initialize_posterior_head(self.encoder.to_params)

  # ---- configuration ------------------------------------------------------------------
  def committed_rate(self):
    """δ in nats per example (Python float): the rate's guaranteed minimum."""
    return self.latent.committed_rate_nats()

  # ---- the interface ------------------------------------------------------------------
  def network_inputs(self, features):
    """`features['image']` (0..255) -> `[B, H, W, C]` in [-1, 1], compute dtype."""
    return image_common.images_to_float(features['image'], self.compute_dtype)

  def posterior_params(self, x, training=False, seed=None):
    """`(loc, scale)` each `[B, H, d]` float32, from images `x` in [-1, 1]."""
    return self.latent.posterior_params(self.encoder(x, training=training, seed=seed))

  def encode(self, features, training, seed):
    loc, scale = self.posterior_params(self.network_inputs(features),
                                       training=training, seed=seed)
    return self.latent.posterior(loc, scale)

  @property
  def image_decoder(self):
    """p(x | z) with its incremental form (for the image sampler)."""
    return self.decoder

  def decoder_output(self, x, z, training=False, seed=None):
    """DMOL parameters `[B, H, W, P]` for images `x` in [-1, 1] and latents z."""
    return self.decoder(x, z, training=training, seed=seed)

  def likelihood(self, features, z, training, seed):
    x = self.network_inputs(features)
    return self.decoder.distribution(self.decoder_output(x, z, training, seed))

  def posterior_mean(self, features):
    """`[B, H, d]` posterior means (eval mode)."""
    loc, _ = self.posterior_params(self.network_inputs(features))
    return loc

  def rate_per_dim(self, loc, scale):
    """Exact KL(q || p) per latent dimension `[B, d]` nats."""
    return self.latent.kl_per_dim(loc, scale)

  def __call__(self, features, training, seed):
    images = features['image']
    x = self.network_inputs(features)
    seed = tf.convert_to_tensor(seed, tf.int32)
    encoder_seed, sample_seed, decoder_seed = tf.unstack(core.split_seed(seed, 3))
    loc, scale = self.posterior_params(x, training=training, seed=encoder_seed)
    rate_per_dim = self.rate_per_dim(loc, scale)
    z = self.latent.reparameterized_sample(loc, scale, sample_seed)
    likelihood = self.likelihood(features, z, training, decoder_seed)
    distortion = -likelihood.log_prob(images)
    log_p_aux = self.aux_prior.log_prob(tf.stop_gradient(z))
    log_q = tf.reduce_sum(tfd.Normal(loc, scale).log_prob(z), axis=[1, 2])
    batch = tf.shape(distortion)[:1]
    return {
        'distortion': distortion,
        'rate': tf.reduce_sum(rate_per_dim, axis=-1),
        'rate_per_group': rate_per_dim,
        'aux_loss': -log_p_aux,
        'extras': {
            'rate_aux': tf.stop_gradient(log_q - log_p_aux),
            'committed_rate': tf.fill(batch, tf.cast(self.committed_rate(),
                                                     distortion.dtype)),
        },
    }
