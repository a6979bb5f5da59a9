"""`vlae_image`: the Variational Lossy Autoencoder baseline (Chen et al., ICLR 2017).

VLAE avoids posterior collapse by *restricting the decoder*: p(x | z) is a PixelCNN
whose receptive field is small, so local statistics (texture) are modelled by the
decoder while global structure has to go through the latent code (VLAE §3, §4).

* Encoder q(z | x): a strided convolutional network -> a global latent z `[d]`
  (diagonal Gaussian), optionally refined by an inverse autoregressive flow
  (`posterior='iaf'`, `num_iaf_steps` MADE steps with alternating orderings,
  conditioned on an encoder context vector; Kingma et al. 2016, §4).
* Prior p(z): an autoregressive flow (AF) over a N(0, I) base (`prior='af'`,
  `num_prior_steps` MADE steps), VLAE §3.2 / appendix A; or N(0, I)
  (`prior='standard_normal'`).
* Decoder p(x | z): a gated PixelCNN of `num_decoder_layers` causal layers built from
  `t2t_delta.layers.pixel` (vertical and horizontal stacks; each layer widens the
  receptive field by about one row/column, e.g. 6 layers see a 7-row window above the
  pixel and 6 columns to its left), conditioned on z in every gated block, with a
  discretized logistic mixture output.

Rate. With a flow prior or posterior the KL has no closed form; the rate is the
single-sample estimate log q(z | x) - log p(z) at the reparameterised sample z (an
unbiased estimate of the KL), split over latent dimensions for free bits: each flow
step transforms every dimension by an elementwise affine map, so log q and log p are
sums of per-dimension terms (`rate_per_group` `[B, d]`; individual terms may be
negative, their expectation sums to the KL). With a Gaussian posterior and the
standard-normal prior the exact KL is used instead. VLAE trains with free bits
(`train.objective = @free_bits`, see gin/ablations/vlae_*.gin).
"""

import tensorflow as tf
import tensorflow_probability as tfp

from t2t_delta import distributions
from t2t_delta import registry
from t2t_delta.distributions import flows
from t2t_delta.errors import UserError
from t2t_delta.layers import core
from t2t_delta.layers import incremental
from t2t_delta.layers import pixel
from t2t_delta.models import base
from t2t_delta.models import image_common

tfd = tfp.distributions

POSTERIORS = ('gaussian', 'iaf')
PRIORS = ('af', 'standard_normal')
SCALE_FLOOR = 1e-4


class ConvEncoder(tf.Module):
  """Image `[B, H, W, C]` in [-1, 1] -> `(loc [B, d], scale [B, d], context [B, c])`.

  `num_layers` 3x3 convolutions (ELU); the first ones have stride 2 while both sides
  stay even and at least 4 (at most `max_downsample` times), then a dense layer to
  the context and a dense head to the Gaussian parameters.
  """

  def __init__(self, image_shape, num_layers, hidden_size, latent_dim, context_size,
               max_downsample=2, seeds=None, name=None):
    super().__init__(name=name)
    height, width, channels = image_shape
    self.layers, self.strides = [], []
    size = (height, width)
    with self.name_scope:
      in_channels = channels
      for i in range(num_layers):
        stride = 2 if (len([s for s in self.strides if s == 2]) < max_downsample
                       and size[0] % 2 == 0 and size[1] % 2 == 0
                       and min(size) >= 4) else 1
        if stride == 2:
          size = (size[0] // 2, size[1] // 2)
        self.strides.append(stride)
        self.layers.append(core.Conv2D(in_channels, hidden_size, 3, stride, 'SAME',
                                       seeds=seeds, name=f'conv_{i}'))
        in_channels = hidden_size
      self.flat_size = size[0] * size[1] * in_channels
      self.to_context = core.Dense(self.flat_size, context_size, seeds=seeds,
                                   name='to_context')
      self.to_params = core.Dense(context_size, 2 * latent_dim, init_scale=0.1,
                                  seeds=seeds, name='to_params')

  def __call__(self, x):
    h = x
    for layer in self.layers:
      h = tf.nn.elu(layer(h))
    h = tf.reshape(h, [-1, self.flat_size])
    context = tf.nn.elu(self.to_context(h))
    loc, raw_scale = tf.split(self.to_params(context), 2, axis=-1)
    return loc, tf.nn.softplus(raw_scale + 0.5413) + SCALE_FLOOR, context


class LocalPixelCnn(incremental.IncrementalImageDecoder):
  """Gated PixelCNN with a small receptive field, conditioned on a global vector.

  `x` `[B, H, W, C]` in [-1, 1] and `z` `[B, d]` -> DMOL parameters `[B, H, W, P]`.
  Output at pixel p depends on pixels before p (raster order) within the receptive
  field, and on z. Incremental form: `pixel.IncrementalStacks`, with z as the
  condition of every row (`t2t_delta.layers.incremental` for the protocol).
  """

  takes_latents = True

  def __init__(self, image_shape, num_layers, hidden_size, filter_size, latent_dim,
               num_components, dropout_rate=0.0, seeds=None, name=None):
    super().__init__(name=name)
    height, width, channels = (int(s) for s in image_shape)
    self.image_shape = (height, width, channels)
    self.channels, self.num_components = channels, int(num_components)
    self.num_layers = int(num_layers)
    block = lambda conv_type, i, **kw: pixel.GatedResidualBlock(
        hidden_size, filter_size, conv_type, dropout_rate=dropout_rate,
        condition_size=latent_dim, seeds=seeds, name=f'{conv_type}_{i}', **kw)
    with self.name_scope:
      self.input_layer = pixel.CausalInput(channels, hidden_size, seeds=seeds,
                                           name='input')
      self.vertical = [block('down', i) for i in range(self.num_layers)]
      self.horizontal = [block('down_right', i, aux_size=hidden_size)
                         for i in range(self.num_layers)]
      self.output_layer = pixel.Conv1x1(
          hidden_size, distributions.dmol_num_params(channels, num_components),
          seeds=seeds, name='output')

  def __call__(self, x, z, training=False, seed=None):
    condition = tf.cast(z, x.dtype)[:, None, None, :]
    if training and seed is not None:
      seeds = tf.unstack(core.split_seed(seed, 2 * self.num_layers))
    else:
      seeds = [None] * (2 * self.num_layers)
    vertical, horizontal = self.input_layer(x)
    for i in range(self.num_layers):
      vertical = self.vertical[i](vertical, condition=condition, training=training,
                                  seed=seeds[2 * i])
      horizontal = self.horizontal[i](horizontal, aux=vertical, condition=condition,
                                      training=training, seed=seeds[2 * i + 1])
    return self.output_layer(tf.nn.elu(horizontal))

  def distribution(self, output):
    return distributions.dmol_from_network_output(output, self.channels,
                                                  self.num_components)

  # ---- incremental form -------------------------------------------------------------
  def _stacks(self):
    return pixel.IncrementalStacks(self.input_layer, self.vertical, self.horizontal)

  def init_cache(self, batch_size, z=None, dtype=tf.float32):
    """'stacks' (`pixel.IncrementalStacks`) and 'condition' `[B, 1, 1, d]`."""
    if z is None:
      raise ValueError('LocalPixelCnn is conditioned on latents: pass z.')
    return {'stacks': self._stacks().init_cache(batch_size, self.image_shape[1], dtype),
            'condition': tf.cast(z, dtype)[:, None, None, :]}

  def start_row(self, cache, row):
    stacks = self._stacks().start_row(cache['stacks'], row, cache['condition'])
    return dict(cache, stacks=stacks)

  def step(self, cache, row, column):
    h, stacks = self._stacks().step(cache['stacks'], column, cache['condition'])
    return self.output_layer(tf.nn.elu(h))[:, 0, 0], dict(cache, stacks=stacks)

  def append(self, cache, row, column, x):
    x = tf.cast(x, cache['condition'].dtype)
    return dict(cache, stacks=self._stacks().append(cache['stacks'], column, x))


@registry.register_model
class VlaeImage(base.LatentVariableModel):
  """VLAE: global latent, AF prior, optional IAF posterior, local PixelCNN decoder.

  Args (gin `vlae_image.*`):
    latent_dim: d, size of the global latent.
    num_encoder_layers, encoder_hidden, context_size: encoder convolutions, their
      width, and the width of the context vector (also the IAF's context).
    num_decoder_layers, decoder_hidden, decoder_filter: PixelCNN depth (receptive
      field), width and residual filter size.
    num_components: mixture components of the output distribution.
    dropout_rate: decoder dropout.
    prior: 'af' (autoregressive flow) or 'standard_normal'.
    num_prior_steps, prior_hidden: AF prior steps and MADE widths.
    posterior: 'gaussian' or 'iaf'.
    num_iaf_steps, iaf_hidden: IAF steps and MADE widths.
    seed: seed of the initial weights.
  """

  def __init__(self, problem, latent_dim=32, num_encoder_layers=3, encoder_hidden=64,
               context_size=128, num_decoder_layers=6, decoder_hidden=64,
               decoder_filter=128, num_components=10, dropout_rate=0.0, prior='af',
               num_prior_steps=2, prior_hidden=(128, 128), posterior='gaussian',
               num_iaf_steps=2, iaf_hidden=(128, 128), seed=0, name=None):
    super().__init__(problem, name=name)
    model_name = self.registered_name or 'vlae_image'
    self.image_shape = image_common.image_shape_of(problem, model_name)
    image_common.check_choice('prior', prior, PRIORS, model_name)
    image_common.check_choice('posterior', posterior, POSTERIORS, model_name)
    if latent_dim < 1:
      raise UserError(f'{model_name}.latent_dim must be >= 1, got {latent_dim}.')
    if posterior == 'iaf' and num_iaf_steps < 1:
      raise UserError(f"{model_name}.posterior='iaf' needs num_iaf_steps >= 1, got "
                      f'{num_iaf_steps}.')
    self.latent_dim = int(latent_dim)
    self.prior_type, self.posterior_type = prior, posterior
    seeds = core.SeedSequence(seed)
    with self.name_scope:
      self.encoder = ConvEncoder(self.image_shape, num_encoder_layers, encoder_hidden,
                                 self.latent_dim, context_size, seeds=seeds,
                                 name='encoder')
      self.iaf = (flows.InverseAutoregressiveFlow(
          self.latent_dim, num_iaf_steps, context_size, tuple(iaf_hidden), seeds=seeds,
          name='iaf') if posterior == 'iaf' else None)
      self.flow_prior = (flows.AutoregressiveFlowPrior(
          self.latent_dim, num_prior_steps, tuple(prior_hidden), seeds=seeds,
          name='flow_prior') if prior == 'af' else None)
      self.decoder = LocalPixelCnn(self.image_shape, num_decoder_layers, decoder_hidden,
                                   decoder_filter, self.latent_dim, num_components,
                                   dropout_rate=dropout_rate, seeds=seeds,
                                   name='decoder')

  # ---- the interface ------------------------------------------------------------------
  def _encoder_output(self, features):
    return self.encoder(image_common.images_to_float(features['image']))

  def encode(self, features, training, seed):
    """q(z | x), event `[d]`: diagonal Gaussian or its IAF transform."""
    del training, seed
    loc, scale, context = self._encoder_output(features)
    if self.iaf is None:
      return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)
    return self.iaf.distribution(loc, scale, context)

  def prior(self):
    if self.flow_prior is None:
      return tfd.Independent(tfd.Normal(tf.zeros([self.latent_dim]), 1.0),
                             reinterpreted_batch_ndims=1)
    return self.flow_prior.distribution()

  def prior_log_prob_per_dim(self, z):
    if self.flow_prior is None:
      return tfd.Normal(0., 1.).log_prob(z)
    return self.flow_prior.log_prob_per_dim(z)

  @property
  def image_decoder(self):
    """p(x | z) with its incremental form (for the image sampler)."""
    return self.decoder

  def likelihood(self, features, z, training, seed):
    x = image_common.images_to_float(features['image'])
    return self.decoder.distribution(self.decoder(x, z, training=training, seed=seed))

  def posterior_mean(self, features):
    """`[B, d]`: the Gaussian mean (with IAF: the mean pushed through the flow)."""
    loc, _, context = self._encoder_output(features)
    if self.iaf is None:
      return loc
    return self.iaf.transform(loc, context)[0]

  def __call__(self, features, training, seed):
    images = features['image']
    seed = tf.convert_to_tensor(seed, tf.int32)
    sample_seed, decoder_seed = tf.unstack(core.split_seed(seed, 2))
    loc, scale, context = self._encoder_output(features)
    eps = tf.random.stateless_normal(tf.shape(loc), sample_seed, dtype=loc.dtype)
    z = loc + scale * eps
    if self.iaf is None and self.flow_prior is None:
      rate_per_dim = distributions.standard_normal_kl(loc, scale)
    else:
      log_q = tfd.Normal(loc, scale).log_prob(z)
      if self.iaf is not None:
        z, log_det = self.iaf.transform(z, context)
        log_q -= log_det
      rate_per_dim = log_q - self.prior_log_prob_per_dim(z)
    likelihood = self.likelihood(features, z, training, decoder_seed)
    distortion = -likelihood.log_prob(images)
    return {
        'distortion': distortion,
        'rate': tf.reduce_sum(rate_per_dim, axis=-1),
        'rate_per_group': rate_per_dim,
    }
