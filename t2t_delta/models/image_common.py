"""Pieces shared by the image models: input scaling and the PixelSNAIL-like decoder."""

import tensorflow as tf

from t2t_delta import distributions
from t2t_delta.errors import UserError
from t2t_delta.layers import incremental
from t2t_delta.layers import pixelsnail


def image_shape_of(problem, model_name):
  """`(H, W, C)` of an image problem; UserError for text problems or odd channels."""
  shape = getattr(problem, 'image_shape', None)
  if getattr(problem, 'modality', None) != 'image' or shape is None:
    raise UserError(f'model {model_name!r} needs an image problem; got '
                    f'{getattr(problem, "registered_name", None) or problem!r}. '
                    'Choose an image problem or a text model.')
  height, width, channels = (int(s) for s in shape)
  if channels not in (1, 3):
    raise UserError(f'model {model_name!r} supports 1 or 3 channels; the problem '
                    f'has {channels}.')
  if height < 1 or width < 1:
    raise UserError(f'image shape must be positive, got {shape}.')
  return height, width, channels


def images_to_float(images, dtype=tf.float32):
  """Pixel values 0..255 (uint8/int32/float) `[B, H, W, C]` -> `dtype` in [-1, 1]."""
  return tf.cast(images, dtype) / 127.5 - 1.


def check_choice(name, value, choices, model_name):
  if value not in choices:
    raise UserError(f'{model_name}.{name} must be one of {", ".join(choices)}; '
                    f'got {value!r}.')


class ImageDecoder(incremental.IncrementalImageDecoder):
  """p(x | z): `PixelSnail` with a discretized-logistic-mixture output head.

  Args:
    image_shape: `(H, W, C)`.
    num_layers, hidden_size, filter_size, num_attention_layers, num_heads,
    dropout_rate, weight_norm: as `pixelsnail.PixelSnail`.
    num_components: K, mixture components of the output distribution.
    latent_dim: d of one latent per image row (`z` `[B, H, d]`), or None for an
      unconditional decoder.
    latent_structure: which latent rows a pixel attends to ('causal': rows <= its
      own, for the anti-causal encoder; 'full': all rows, for the non-causal one).
    latent_in_blocks: also add each row's latent z_t to the gates of every gated
      block at row t (`PixelSnail` row conditioning; causal in rows). The paper's
      decoder reads z through cross-attention only (False).
    zero_init_latent_path: start every path from z into the decoder at zero (the
      gated blocks' condition projections and the cross-attention output
      projections), so that the initial, random latents add no noise to the
      decoder and the first gradients on those paths are the correlations of z
      with what the decoder needs (as zero-initialised conditioning layers do).
    seeds: `core.SeedSequence` for initial values.

  Each latent row enters the cross-attention memory as `[z_t, one_hot(t)]`, so that
  attention can locate rows as well as read them.

  Incremental form: `PixelSnail`'s (`t2t_delta.layers.incremental` for the protocol).
  """

  def __init__(self, image_shape, num_layers, hidden_size, filter_size,
               num_attention_layers, num_heads, num_components, dropout_rate=0.0,
               latent_dim=None, latent_structure='causal', weight_norm=False,
               seeds=None, latent_in_blocks=False, zero_init_latent_path=False,
               name=None):
    super().__init__(name=name)
    self.height, self.width, self.channels = image_shape
    self.image_shape = (self.height, self.width, self.channels)
    self.num_components = int(num_components)
    self.latent_dim = latent_dim
    self.takes_latents = bool(latent_dim)
    self.latent_in_blocks = bool(latent_in_blocks and latent_dim)
    self.net = pixelsnail.PixelSnail(
        image_shape, num_layers, hidden_size, filter_size,
        num_attention_layers=num_attention_layers, num_heads=num_heads,
        dropout_rate=dropout_rate,
        condition_size=(latent_dim + self.height) if latent_dim else None,
        condition_length=self.height if latent_dim else None,
        condition_structure=latent_structure,
        output_size=distributions.dmol_num_params(self.channels, num_components),
        weight_norm=weight_norm, seeds=seeds,
        row_condition_size=latent_dim if self.latent_in_blocks else None,
        name='pixelsnail')
    if zero_init_latent_path and latent_dim:
      for variable in self.latent_path_variables():
        variable.assign(tf.zeros_like(variable))

  def latent_path_variables(self):
    """The kernels through which z first enters the decoder."""
    blocks = self.net.vertical_blocks + self.net.horizontal_blocks
    kernels = [b.condition_proj.kernel for b in blocks if b.condition_proj is not None]
    return kernels + [block.attention.output.kernel
                      for block in self.net.cross_attention.values()]

  def latent_memory(self, z):
    """z `[B, H, d]` -> cross-attention memory `[B, H, d + H]`."""
    rows = tf.eye(self.height, dtype=z.dtype)[tf.newaxis]
    rows = tf.broadcast_to(rows, tf.concat([tf.shape(z)[:1], tf.shape(rows)[1:]], 0))
    return tf.concat([z, rows], axis=-1)

  def __call__(self, x, z=None, training=False, seed=None):
    """x `[B, H, W, C]` in [-1, 1] (teacher forcing) -> DMOL parameters `[B, H, W, P]`."""
    condition = None if z is None else self.latent_memory(tf.cast(z, x.dtype))
    rows = z if self.latent_in_blocks else None
    return self.net(x, condition, training=training, seed=seed, row_condition=rows)

  def distribution(self, output):
    """`DiscretizedLogisticMixture` with event `[H, W, C]` from the network output."""
    return distributions.dmol_from_network_output(output, self.channels,
                                                  self.num_components)

  # ---- incremental form -------------------------------------------------------------
  def init_cache(self, batch_size, z=None, dtype=tf.float32):
    condition = None if z is None else self.latent_memory(tf.cast(z, dtype))
    rows = z if self.latent_in_blocks else None
    return self.net.init_cache(batch_size, condition, rows, dtype)

  def start_row(self, cache, row):
    return self.net.start_row(cache, row)

  def step(self, cache, row, column):
    return self.net.step(cache, row, column)

  def append(self, cache, row, column, x):
    return self.net.append(cache, row, column, x)
