"""Discretized mixture of logistics (PixelCNN++) over 8-bit images.

Per pixel there are K mixture components shared by the C channels. Pixel values
v in {0, ..., 255} are mapped to x = v / 127.5 - 1 in [-1, 1]; each value owns a bin
of half-width 1/255 around x, value 0 also owns the left tail and value 255 the
right tail. For RGB the means of later channels depend linearly on the actual
(scaled) values of the earlier channels of the same pixel:

    mean_R = loc_R
    mean_G = loc_G + c0 * x_R
    mean_B = loc_B + c1 * x_R + c2 * x_G,      c = tanh(raw coefficients).

Log-scales are floored at -7. Bin masses are evaluated in closed form as

    log(sigmoid(a) - sigmoid(b)) = log sigmoid(a) + log sigmoid(-b) + log(1 - e^(b - a)),

with a, b the standardised bin edges. This equals log(cdf_delta) of openai/pixel-cnn
wherever that is accurate, and replaces its mid-bin density fallback for tiny bins by
the exact mass, so the 256 probabilities of every channel sum to one and log-probs
stay finite (with finite gradients) for any finite parameters.

Network output layout (P = `dmol_num_params(C, K)` numbers per pixel):
`[K logits | channel 0 | ... | channel C-1]`, where each channel block is
`[K locs | K log-scales | K coefficients]` for C = 3 and `[K locs | K log-scales]` for
C = 1. Coefficient block c holds c0, c1, c2 for c = 0, 1, 2.

Log-probs are in nats. Computation is in float32 (float64 stays float64); bfloat16
and float16 parameters are upcast.
"""


import tensorflow as tf
import tensorflow_probability as tfp

from t2t_delta.errors import UserError

tfd = tfp.distributions

LOG_SCALE_FLOOR = -7.
_HALF_BIN = 1. / 255.
_MAX_VALUE = 255.


def dmol_num_params(num_channels, num_components):
  """Numbers per pixel: 10 K for C = 3 (with coupling), 3 K for C = 1."""
  _check_channels(num_channels)
  per_channel = 3 if num_channels == 3 else 2
  return num_components * (1 + num_channels * per_channel)


def _check_channels(num_channels):
  if num_channels not in (1, 3):
    raise UserError(f'DMOL supports 1 or 3 channels, got {num_channels}.')


def _compute_dtype(x):
  return tf.float64 if x.dtype == tf.float64 else tf.float32


def _upcast(x, dtype=None):
  if x is None:
    return None
  x = tf.convert_to_tensor(x)
  return tf.cast(x, dtype or _compute_dtype(x))


def split_network_output(output, num_channels, num_components):
  """Splits `[..., P]` into `(logits [..., K], locs [..., C, K], log_scales [..., C, K],
  coeffs [..., 3, K] or None)`; raw values, upcast to float32."""
  _check_channels(num_channels)
  output = _upcast(output)
  k = num_components
  expected = dmol_num_params(num_channels, k)
  if output.shape[-1] is not None and output.shape[-1] != expected:
    raise UserError(
        f'DMOL with C={num_channels}, K={k} needs {expected} numbers per pixel, the '
        f'network produced {output.shape[-1]}.')
  # Splits, not slices: the gradient of a split is one concatenation, where every
  # slice's gradient would be a zero-padded copy of the whole output, then summed.
  per_channel = (expected // k - 1) // num_channels
  logits, rest = tf.split(output, [k, expected - k], axis=-1)
  blocks = tf.reshape(rest, tf.concat(
      [tf.shape(output)[:-1], [num_channels, per_channel * k]], 0))
  parts = tf.split(blocks, per_channel, axis=-1)
  coeffs = parts[2] if num_channels == 3 else None
  return logits, parts[0], parts[1], coeffs


def _channel_means(locs, coeffs, x_scaled):
  """Coupled means `[..., C, K]` given channel values `x_scaled [..., C]` in [-1, 1].

  `coeffs` are already squashed, `[..., 3, K]`, or None for C = 1.
  """
  if coeffs is None:
    return locs
  red, green, _ = tf.unstack(x_scaled[..., tf.newaxis], num=3, axis=-2)  # [..., 1]
  coeff_g, coeff_b_red, coeff_b_green = tf.unstack(coeffs, num=3, axis=-2)
  shift_g = coeff_g * red
  shift_b = coeff_b_red * red + coeff_b_green * green
  return locs + tf.stack([tf.zeros_like(shift_g), shift_g, shift_b], axis=-2)


def _log1mexp_neg(w):
  """log(1 - exp(-w)) for w > 0."""
  return tf.math.log(-tf.math.expm1(-tf.maximum(w, 1e-30)))


def _bin_log_mass(values, x_scaled, means, log_scales):
  """Log-probability of each value's bin under each logistic, `[..., C, K]`.

  Args:
    values: `[..., C, 1]` pixel values in 0..255 (float).
    x_scaled: `[..., C, 1]` the same values in [-1, 1].
    means: `[..., C, K]` coupled means.
    log_scales: `[..., C, K]` floored log-scales.
  """
  inv_scale = tf.exp(-log_scales)
  centered = x_scaled - means
  upper = inv_scale * (centered + _HALF_BIN)       # standardised upper bin edge
  lower = inv_scale * (centered - _HALF_BIN)       # standardised lower bin edge
  log_cdf_upper = -tf.nn.softplus(-upper)           # log sigmoid(upper)
  log_sf_lower = -tf.nn.softplus(lower)             # log (1 - sigmoid(lower))
  interior = (log_cdf_upper + log_sf_lower
              + _log1mexp_neg((2. * _HALF_BIN) * inv_scale))
  return tf.where(values < 0.5, log_cdf_upper,
                  tf.where(values > _MAX_VALUE - 0.5, log_sf_lower, interior))


def _prepare(values, logits, locs, log_scales, coeffs):
  dtype = _compute_dtype(tf.convert_to_tensor(locs))
  values = tf.cast(values, dtype)
  logits = _upcast(logits, dtype)
  locs = _upcast(locs, dtype)
  log_scales = tf.maximum(_upcast(log_scales, dtype), LOG_SCALE_FLOOR)
  coeffs = None if coeffs is None else tf.tanh(_upcast(coeffs, dtype))
  return values, logits, locs, log_scales, coeffs


def _component_log_probs(values, logits, locs, log_scales, coeffs):
  """Returns `(log_mix [..., K], per-channel component log-probs [..., C, K])`."""
  values, logits, locs, log_scales, coeffs = _prepare(
      values, logits, locs, log_scales, coeffs)
  x_scaled = values / 127.5 - 1.
  means = _channel_means(locs, coeffs, x_scaled)
  per_channel = _bin_log_mass(values[..., tf.newaxis], x_scaled[..., tf.newaxis],
                              means, log_scales)
  return tf.nn.log_softmax(logits, axis=-1), per_channel


def dmol_log_prob_per_pixel(values, logits, locs, log_scales, coeffs=None):
  """Joint log-probability of all channels of each pixel, `[..., H, W]` nats.

  Args:
    values: `[..., H, W, C]` pixel values in 0..255 (integer or float).
    logits: `[..., H, W, K]` unnormalised mixture logits.
    locs: `[..., H, W, C, K]` means in [-1, 1] units (before coupling).
    log_scales: `[..., H, W, C, K]` log-scales (floored at -7 here).
    coeffs: `[..., H, W, 3, K]` raw coupling coefficients (tanh applied here) for
      C = 3, or None for C = 1.
  """
  log_mix, per_channel = _component_log_probs(values, logits, locs, log_scales,
                                              coeffs)
  return tf.reduce_logsumexp(log_mix + tf.reduce_sum(per_channel, axis=-2), -1)


def dmol_log_prob_per_subpixel(values, logits, locs, log_scales, coeffs=None):
  """Conditional log p(x_c | x_<c of the same pixel), `[..., H, W, C]` nats.

  The components are shared across channels, so the conditional mixes the
  components with their posterior weights given the earlier channels. Summing over
  channels gives `dmol_log_prob_per_pixel`. Arguments as there.
  """
  log_mix, per_channel = _component_log_probs(values, logits, locs, log_scales,
                                              coeffs)
  joint_upto = tf.reduce_logsumexp(
      log_mix[..., tf.newaxis, :] + tf.cumsum(per_channel, axis=-2), axis=-1)
  previous = tf.concat([tf.zeros_like(joint_upto[..., :1]), joint_upto[..., :-1]],
                       axis=-1)
  return joint_upto - previous


def _sample_from_params(logits, locs, log_scales, coeffs, seed):
  """Samples pixel values `[..., C]` in 0..255 (float) from `[..., K]`-style params.

  Gumbel-max picks the component; each channel is drawn by inverse-CDF of its
  logistic, rounded to its bin (edges absorb the tails), and its actual value feeds
  the means of later channels.
  """
  _, logits, locs, log_scales, coeffs = _prepare(0., logits, locs, log_scales,
                                                 coeffs)
  dtype = locs.dtype
  num_channels, num_components = locs.shape[-2], locs.shape[-1]
  seed_component, seed_noise = tf.unstack(
      tf.random.experimental.stateless_split(seed, 2))
  tiny = tf.experimental.numpy.finfo(dtype.as_numpy_dtype).tiny
  u = tf.random.stateless_uniform(tf.shape(logits), seed_component, minval=tiny,
                                  maxval=1., dtype=dtype)
  component = tf.argmax(logits - tf.math.log(-tf.math.log(u)), axis=-1)
  select = tf.one_hot(component, num_components, dtype=dtype)[..., tf.newaxis, :]
  loc = tf.reduce_sum(locs * select, axis=-1)                     # [..., C]
  scale = tf.exp(tf.reduce_sum(log_scales * select, axis=-1))     # [..., C]
  u = tf.random.stateless_uniform(tf.shape(loc), seed_noise, minval=tiny,
                                  maxval=1., dtype=dtype)
  noise = scale * (tf.math.log(u) - tf.math.log1p(-u))            # logistic
  to_value = lambda x: tf.clip_by_value(tf.round((x + 1.) * 127.5), 0., _MAX_VALUE)
  to_scaled = lambda v: v / 127.5 - 1.
  if num_channels == 1:
    return to_value(loc + noise)
  coef = tf.reduce_sum(coeffs * select, axis=-1)                  # [..., 3]
  red = to_value(loc[..., 0] + noise[..., 0])
  green = to_value(loc[..., 1] + coef[..., 0] * to_scaled(red) + noise[..., 1])
  blue = to_value(loc[..., 2] + coef[..., 1] * to_scaled(red)
                  + coef[..., 2] * to_scaled(green) + noise[..., 2])
  return tf.stack([red, green, blue], axis=-1)


def sample_pixel(params, num_channels, num_components, seed):
  """Samples the C channels of one pixel from its network output.

  Args:
    params: `[..., P]` network output for one pixel (any float dtype).
    num_channels: 1 or 3.
    num_components: K.
    seed: int32 `[2]` stateless seed.

  Returns:
    float32 `[..., C]` pixel values in 0..255 (whole numbers).
  """
  logits, locs, log_scales, coeffs = split_network_output(params, num_channels,
                                                          num_components)
  return _sample_from_params(logits, locs, log_scales, coeffs, seed)


def to_pixels(values, dtype=tf.uint8):
  """Rounds float pixel values in 0..255 to integers of `dtype` (uint8 or int32)."""
  values = tf.clip_by_value(tf.round(values), 0., _MAX_VALUE)
  return tf.cast(values, dtype)


class DiscretizedLogisticMixture(tfd.Distribution):
  """Discretized logistic mixture over images, event shape `[H, W, C]`.

  Args:
    logits: `[..., H, W, K]` unnormalised mixture logits.
    locs: `[..., H, W, C, K]` component means in [-1, 1] units (before coupling).
    log_scales: `[..., H, W, C, K]` log-scales; values below -7 are floored.
    coeffs: `[..., H, W, 3, K]` raw coupling coefficients (tanh applied inside),
      required for C = 3 and None for C = 1.

  `log_prob(values)` takes integer or float pixel values in 0..255, shape
  `[..., H, W, C]`, and returns nats per image `[...]`. Samples are float32 whole
  numbers in 0..255 (`to_pixels` converts them to uint8/int32). Parameters may be
  bfloat16; they are computed in float32.
  """

  def __init__(self, logits, locs, log_scales, coeffs=None, validate_args=False,
               allow_nan_stats=True, name='DiscretizedLogisticMixture'):
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      self._locs = _upcast(locs)
      dtype = self._locs.dtype
      self._logits = _upcast(logits, dtype)
      self._log_scales = _upcast(log_scales, dtype)
      self._coeffs = _upcast(coeffs, dtype)
      num_channels = self._locs.shape[-2]
      _check_channels(num_channels)
      if (num_channels == 3) != (self._coeffs is not None):
        raise UserError('DMOL needs coupling coefficients for C=3 and none for C=1; '
                        f'got C={num_channels} and coeffs={coeffs is not None}.')
      super().__init__(
          dtype=dtype,
          reparameterization_type=tfd.NOT_REPARAMETERIZED,
          validate_args=validate_args,
          allow_nan_stats=allow_nan_stats,
          parameters=parameters,
          name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    return dict(
        logits=tfp.util.ParameterProperties(event_ndims=3),
        locs=tfp.util.ParameterProperties(event_ndims=4),
        log_scales=tfp.util.ParameterProperties(event_ndims=4),
        coeffs=tfp.util.ParameterProperties(event_ndims=4),
    )

  @property
  def logits(self):
    return self._logits

  @property
  def locs(self):
    return self._locs

  @property
  def log_scales(self):
    return self._log_scales

  @property
  def coeffs(self):
    return self._coeffs

  @property
  def num_channels(self):
    return self._locs.shape[-2]

  @property
  def num_components(self):
    return self._locs.shape[-1]

  def _event_shape(self):
    return self._locs.shape[-4:-1]

  def _event_shape_tensor(self):
    return tf.shape(self._locs)[-4:-1]

  def _params(self):
    return self._logits, self._locs, self._log_scales, self._coeffs

  def _log_prob(self, values):
    per_pixel = dmol_log_prob_per_pixel(values, *self._params())
    return tf.reduce_sum(per_pixel, axis=[-2, -1])

  def log_prob_per_subpixel(self, values):
    """Conditional log-probs `[..., H, W, C]` nats, see `dmol_log_prob_per_subpixel`."""
    return dmol_log_prob_per_subpixel(values, *self._params())

  def log_prob_per_pixel(self, values):
    """Joint log-probs of each pixel's channels, `[..., H, W]` nats."""
    return dmol_log_prob_per_pixel(values, *self._params())

  def _sample_n(self, n, seed=None):
    seed = tfp.random.sanitize_seed(seed)
    batch = tf.concat([[n], self.batch_shape_tensor()], 0)
    image = tf.shape(self._logits)[-3:-1]
    k = self.num_components
    expand = lambda p, tail: tf.broadcast_to(
        p, tf.concat([batch, image, tail], 0))
    tail = [self.num_channels, k]
    return _sample_from_params(
        expand(self._logits, [k]), expand(self._locs, tail),
        expand(self._log_scales, tail),
        None if self._coeffs is None else expand(self._coeffs, [3, k]), seed)


def dmol_from_network_output(output, num_channels, num_components, **kwargs):
  """`DiscretizedLogisticMixture` from a network output `[..., H, W, P]`.

  The output may be bfloat16; it is cast to float32 first.
  """
  logits, locs, log_scales, coeffs = split_network_output(output, num_channels,
                                                          num_components)
  return DiscretizedLogisticMixture(logits, locs, log_scales, coeffs, **kwargs)
