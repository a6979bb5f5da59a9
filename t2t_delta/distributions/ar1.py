"""AR(1) latent prior, its exact KL to a mean-field Gaussian, and the committed rate.

Each of the `d` latent dimensions is an independent, stationary AR(1) process over
`n` steps with unit marginal variance:

    p(z_1) = N(0, 1),    p(z_i | z_{i-1}) = N(alpha * z_{i-1}, sqrt(1 - alpha^2)).

The posterior q(z | x) = prod_i N(mu_i, sigma_i) is mean field, so the prior's
correlation cannot be matched and KL(q || p) is bounded below by the committed rate

    delta = 1/2 * sum_k [ (n - 2) ln(1 + alpha_k^2) - ln(1 - alpha_k^2) ]    (n >= 2).

All rates are in nats unless a name says `bits`. Alphas must lie in (-1, 1): alpha = 1
is not stationary. The rate depends on alpha^2 only, so the rate solver returns
alphas in [0, MAX_ALPHA].
"""

import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from t2t_delta.errors import UserError

tfd = tfp.distributions

# Largest alpha the rate solver will return. 1 - alpha^2 must stay well above the
# float32 resolution, because the prior divides by it.
MAX_ALPHA = 0.9999


class InfeasibleRateError(UserError):
  """A requested committed rate cannot be reached with the given settings."""


def _as_float(x):
  """Tensor of `x` in float64 if it already is float64, else float32."""
  x = tf.convert_to_tensor(x)
  return x if x.dtype == tf.float64 else tf.cast(x, tf.float32)


def linear_alphas(alpha_lo, alpha_hi, num_dims):
  """Alphas spaced linearly from `alpha_lo` to `alpha_hi`, float32 `[num_dims]`.

  With `num_dims == 1` the single dimension uses `alpha_hi`, so that solving for
  `alpha_hi` (see `alphas_for_rate`) also controls a one-dimensional latent.
  """
  if num_dims < 1:
    raise ValueError(f'num_dims must be >= 1, got {num_dims}.')
  if num_dims == 1:
    return tf.constant([alpha_hi], tf.float32)
  return tf.cast(tf.linspace(tf.cast(alpha_lo, tf.float64),
                             tf.cast(alpha_hi, tf.float64), num_dims), tf.float32)


def linear_alphas_np(alpha_lo, alpha_hi, num_dims):
  """NumPy float64 version of `linear_alphas`, for use at configuration time."""
  if num_dims < 1:
    raise ValueError(f'num_dims must be >= 1, got {num_dims}.')
  if num_dims == 1:
    return np.array([alpha_hi], np.float64)
  return np.linspace(alpha_lo, alpha_hi, num_dims, dtype=np.float64)


def first_order_recurrence(decay, drive):
  """Solves x_i = decay_i * x_{i-1} + drive_i with x_0 = 0 along axis -2.

  A parallel prefix (Hillis-Steele) scan: ceil(log2(n)) vectorised steps, each
  composing the affine maps x -> a x + b of neighbours `offset` apart. No loop over
  time, static shapes, and only products of |decay| <= 1, so nothing overflows.

  Args:
    decay: `[..., n, d]` multipliers.
    drive: `[..., n, d]` additive terms, same shape as `decay`.

  Returns:
    `[..., n, d]` solution of the recurrence.
  """
  num_steps = drive.shape[-2]
  a, b = decay, drive
  offset = 1
  while offset < num_steps:
    # Earlier map for position i is at i - offset; positions before the start get
    # the identity map (a = 1, b = 0).
    paddings = [[0, 0]] * (len(a.shape) - 2) + [[offset, 0], [0, 0]]
    a_prev = tf.pad(a[..., :-offset, :], paddings, constant_values=1.)
    b_prev = tf.pad(b[..., :-offset, :], paddings)
    b = a * b_prev + b
    a = a * a_prev
    offset *= 2
  return b


class AR1Prior(tfd.Distribution):
  """Independent stationary AR(1) processes, event shape `[num_steps, num_dims]`.

  Args:
    alphas: float `[..., d]`, lag-one correlation of each dimension, in (-1, 1).
      Leading dimensions are the batch shape. float64 alphas give a float64
      distribution; anything else is float32.
    num_steps: Python int `n >= 1`, length of the sequence.

  Samples are `[..., n, d]` with zero mean and unit variance at every step.
  """

  def __init__(self, alphas, num_steps, validate_args=False,
               allow_nan_stats=True, name='AR1Prior'):
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      self._alphas = _as_float(alphas)
      if self._alphas.shape.rank == 0:
        raise ValueError('alphas must have shape [..., num_dims], got a scalar.')
      self._num_steps = int(num_steps)
      if self._num_steps < 1:
        raise ValueError(f'num_steps must be >= 1, got {num_steps}.')
      super().__init__(
          dtype=self._alphas.dtype,
          reparameterization_type=tfd.FULLY_REPARAMETERIZED,
          validate_args=validate_args,
          allow_nan_stats=allow_nan_stats,
          parameters=parameters,
          name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    return dict(
        alphas=tfp.util.ParameterProperties(event_ndims=1),
        num_steps=tfp.util.ParameterProperties(
            event_ndims=None, is_tensor=False, is_preferred=False),
    )

  @property
  def alphas(self):
    """`[..., d]` per-dimension correlation."""
    return self._alphas

  @property
  def num_steps(self):
    return self._num_steps

  @property
  def num_dims(self):
    return self._alphas.shape[-1]

  def _event_shape(self):
    return tf.TensorShape([self._num_steps, self._alphas.shape[-1]])

  def _event_shape_tensor(self):
    return tf.stack([self._num_steps, tf.shape(self._alphas)[-1]])

  def _batch_shape(self):
    return self._alphas.shape[:-1]

  def _batch_shape_tensor(self):
    return tf.shape(self._alphas)[:-1]

  def _innovation_scale(self):
    return tf.sqrt((1. - self._alphas) * (1. + self._alphas))

  def transition_coefficients(self):
    """`(decay, scale)`, each `[..., n, d]`, of the conditionals p(z_i | z_{i-1}).

    z_i = decay_i z_{i-1} + scale_i eps_i with eps_i ~ N(0, 1): step 1 is the
    marginal N(0, 1) (decay 0, scale 1), later steps have decay alpha and scale
    sqrt(1 - alpha^2).
    """
    first = tf.one_hot(0, self._num_steps, dtype=self.dtype)[:, tf.newaxis]  # [n, 1]
    decay = (1. - first) * self._alphas[..., tf.newaxis, :]
    scale = first + (1. - first) * self._innovation_scale()[..., tf.newaxis, :]
    return decay, scale

  def continue_sequence(self, z, mask, noise):
    """Keeps z where `mask` is 1 and continues it with the prior's conditionals.

    Args:
      z: `[..., n, d]` latents; only the steps with mask 1 are read.
      mask: `[..., n]`, 1.0 on the steps to keep (e.g. a sentence's real prefix).
      noise: `[..., n, d]` standard-normal innovations; only the steps with mask 0
        are read.

    Returns:
      `[..., n, d]`: z_i on kept steps, decay_i z_{i-1} + scale_i noise_i elsewhere
      (the recursion runs from the previous step, kept or continued). With noise
      ~ N(0, I) this is a sample of p(z_rest | z_kept); with noise 0, its mean.
    """
    decay, scale = self.transition_coefficients()
    real = tf.cast(mask, self.dtype)[..., tf.newaxis]
    drive = real * z + (1. - real) * scale * noise
    decay = tf.broadcast_to((1. - real) * decay, tf.shape(drive))
    return first_order_recurrence(decay, drive)

  def sample_continuation(self, z, mask, seed):
    """`continue_sequence` with fresh N(0, 1) innovations drawn from `seed` (int32
    `[2]`): a sample of the steps with mask 0 given the kept ones, `[..., n, d]`."""
    z = tf.convert_to_tensor(z, self.dtype)
    noise = tf.random.stateless_normal(tf.shape(z), seed=seed, dtype=self.dtype)
    return self.continue_sequence(z, mask, noise)

  def _sample_n(self, n, seed=None):
    seed = tfp.random.sanitize_seed(seed)
    shape = tf.concat([[n], self._batch_shape_tensor(),
                       self._event_shape_tensor()], axis=0)
    eps = tf.random.stateless_normal(shape, seed=seed, dtype=self.dtype)
    # Step 1 is eps_1; later steps add sqrt(1 - alpha^2) eps_i to alpha z_{i-1}.
    decay, drive_scale = self.transition_coefficients()
    decay = tf.broadcast_to(decay, tf.shape(eps))
    return first_order_recurrence(decay, eps * drive_scale)

  def _log_prob(self, z):
    z = tf.convert_to_tensor(z, self.dtype)
    alphas = self._alphas[..., tf.newaxis, :]
    innovation_scale = self._innovation_scale()[..., tf.newaxis, :]
    half_log_two_pi = 0.5 * math.log(2. * math.pi)
    first = -0.5 * tf.square(z[..., 0, :]) - half_log_two_pi       # [..., d]
    residual = (z[..., 1:, :] - alphas * z[..., :-1, :]) / innovation_scale
    rest = (-0.5 * tf.square(residual) - tf.math.log(innovation_scale)
            - half_log_two_pi)
    return (tf.reduce_sum(first, axis=-1)
            + tf.reduce_sum(rest, axis=[-2, -1]))

  def _mean(self):
    return tf.zeros(tf.concat([self._batch_shape_tensor(),
                               self._event_shape_tensor()], 0), self.dtype)

  def _stddev(self):
    return tf.ones(tf.concat([self._batch_shape_tensor(),
                              self._event_shape_tensor()], 0), self.dtype)

  def _variance(self):
    return self._stddev()

  def _default_event_space_bijector(self):
    return tfp.bijectors.Identity(validate_args=self.validate_args)


def _relative_entropy_term(x, log_x):
  """f(x) = x - ln x - 1 >= 0, written to stay accurate near x = 1."""
  return (x - 1.) - log_x


def ar1_kl_per_dim(q_loc, q_scale, alphas):
  """KL(q || AR(1) prior) per latent dimension, in nats, in O(n d).

  KL = 1/2 [ f(s_1^2) + m_1^2
             + sum_{i=2..n} f(s_i^2 / (1 - a^2))
                            + ((m_i - a m_{i-1})^2 + a^2 s_{i-1}^2) / (1 - a^2) ],
  with f(x) = x - ln x - 1 (paper appendix B, eq. 3).

  Args:
    q_loc: `[..., n, d]` posterior means.
    q_scale: `[..., n, d]` posterior standard deviations (> 0).
    alphas: `[..., d]`, broadcastable against the leading dimensions of `q_loc`.

  Returns:
    `[..., d]` KL in nats.
  """
  q_loc = _as_float(q_loc)
  dtype = q_loc.dtype
  q_scale = tf.convert_to_tensor(q_scale, dtype)
  alphas = tf.cast(alphas, dtype)[..., tf.newaxis, :]            # [..., 1, d]
  one_minus_a2 = (1. - alphas) * (1. + alphas)
  log_one_minus_a2 = tf.math.log(one_minus_a2)
  var = tf.square(q_scale)
  log_var = 2. * tf.math.log(q_scale)
  first = (_relative_entropy_term(var[..., 0, :], log_var[..., 0, :])
           + tf.square(q_loc[..., 0, :]))
  ratio = var[..., 1:, :] / one_minus_a2
  transition = (
      _relative_entropy_term(ratio, log_var[..., 1:, :] - log_one_minus_a2)
      + (tf.square(q_loc[..., 1:, :] - alphas * q_loc[..., :-1, :])
         + tf.square(alphas) * var[..., :-1, :]) / one_minus_a2)
  return 0.5 * (first + tf.reduce_sum(transition, axis=-2))


def ar1_kl(q_loc, q_scale, alphas):
  """`ar1_kl_per_dim` summed over latent dimensions: `[...]` nats."""
  return tf.reduce_sum(ar1_kl_per_dim(q_loc, q_scale, alphas), axis=-1)


@tfd.RegisterKL(tfd.Independent, AR1Prior)
def _kl_independent_normal_ar1(q, p, name=None):
  """KL(Independent(Normal) || AR1Prior) in closed form.

  Only a `tfd.Independent` that wraps a `tfd.Normal` with
  `reinterpreted_batch_ndims == 2` and event shape `[num_steps, num_dims]` equal to
  the prior's is supported; anything else raises `NotImplementedError`, because no
  closed form exists for it.
  """
  with tf.name_scope(name or 'kl_independent_normal_ar1'):
    base = q.distribution
    ndims = tf.get_static_value(q.reinterpreted_batch_ndims)
    if not isinstance(base, tfd.Normal) or ndims != 2:
      raise NotImplementedError(
          'KL against AR1Prior needs q = tfd.Independent(tfd.Normal(loc [..., n, d], '
          'scale [..., n, d]), reinterpreted_batch_ndims=2); got '
          f'{type(base).__name__} with reinterpreted_batch_ndims={ndims}.')
    if (q.event_shape.is_fully_defined()
        and q.event_shape != p.event_shape):
      raise NotImplementedError(
          f'Event shapes differ: posterior {q.event_shape}, prior {p.event_shape}.')
    loc = tf.broadcast_to(base.loc, base.batch_shape_tensor())
    scale = tf.broadcast_to(base.scale, base.batch_shape_tensor())
    return ar1_kl(loc, scale, p.alphas)


# ----------------------------------------------------------------------------------
# Committed rate.


def committed_rate_per_dim(alphas, num_steps):
  """Minimum over q of the per-dimension KL, `[..., d]` nats (TensorFlow).

  For n >= 2 this is 1/2 [(n - 2) ln(1 + a^2) - ln(1 - a^2)]. For n = 1 the prior is
  N(0, 1), which q can match exactly, so the committed rate is 0 (the closed form
  would wrongly give -1/2 ln(1 - a^4)).
  """
  alphas = _as_float(alphas)
  if num_steps < 2:
    return tf.zeros_like(alphas)
  a2 = tf.square(alphas)
  return 0.5 * ((num_steps - 2) * tf.math.log1p(a2) - tf.math.log1p(-a2))


def optimal_constant_scale_np(alphas):
  """`[d]` posterior scale minimising the KL of an x-independent posterior (mu = 0).

  For an interior step the KL's terms in sigma^2 are f(sigma^2 / (1 - a^2)) of its own
  transition and a^2 sigma^2 / (1 - a^2) of the next one, minimised at
  sigma^2 = (1 - a^2) / (1 + a^2) (1 for a standard normal prior, a = 0). Posterior
  heads start there (`posterior_init='informative'`), so that training does not
  first have to shrink the posterior's noise by orders of magnitude.
  """
  a2 = np.square(np.asarray(alphas, np.float64))
  return np.sqrt((1. - a2) / (1. + a2))


def committed_rate(alphas, num_steps):
  """Committed rate summed over dimensions, `[...]` nats (TensorFlow)."""
  return tf.reduce_sum(committed_rate_per_dim(alphas, num_steps), axis=-1)


def committed_rate_np(alphas, num_steps):
  """Committed rate in nats as a Python float (float64), for configuration time.

  Args:
    alphas: sequence or array `[d]` of per-dimension alphas.
    num_steps: sequence length n; n = 1 gives 0.
  """
  a2 = np.square(np.asarray(alphas, np.float64))
  if num_steps < 2:
    return 0.0
  return float(0.5 * np.sum((num_steps - 2) * np.log1p(a2) - np.log1p(-a2)))


def committed_rate_bits_np(alphas, num_steps):
  """`committed_rate_np` in bits."""
  return committed_rate_np(alphas, num_steps) / math.log(2.)


def _bisect_increasing(fn, target, lo, hi, iterations=200):
  """Smallest x in [lo, hi] with fn(x) >= target, for increasing fn (float64)."""
  for _ in range(iterations):
    mid = 0.5 * (lo + hi)
    if fn(mid) < target:
      lo = mid
    else:
      hi = mid
    if hi - lo <= 1e-16:
      break
  return hi


_UNITS = {'nats': 1.0, 'bits': math.log(2.)}


def alphas_for_rate(rate, num_steps, num_dims, alpha_lo=None, units='nats',
                    max_alpha=MAX_ALPHA):
  """Alphas whose committed rate equals `rate`, float64 numpy `[num_dims]`.

  Args:
    rate: requested committed rate for the whole latent (all n steps, d dims).
    num_steps: sequence length n.
    num_dims: number of latent dimensions d.
    alpha_lo: `None` for one common alpha in every dimension; otherwise the alphas
      are `linear_alphas_np(alpha_lo, alpha_hi, d)` and `alpha_hi` is solved for.
    units: 'nats' or 'bits', the unit of `rate`.
    max_alpha: largest alpha allowed (defaults to `MAX_ALPHA`).

  Returns:
    float64 array `[num_dims]`; `committed_rate_np` of it equals the requested rate
    to about 1e-12 relative.

  Raises:
    InfeasibleRateError (a ValueError): the rate is outside the reachable range,
      which the message states.
  """
  if units not in _UNITS:
    raise UserError(f'units must be one of {sorted(_UNITS)}, got {units!r}.')
  rate_nats = float(rate) * _UNITS[units]
  scale = _UNITS[units]
  num_steps, num_dims = int(num_steps), int(num_dims)
  if num_dims < 1 or num_steps < 1:
    raise UserError(f'num_steps and num_dims must be >= 1, got {num_steps}, '
                    f'{num_dims}.')
  if alpha_lo is None:
    lo = 0.0
    make = lambda a: np.full([num_dims], a, np.float64)
  else:
    lo = float(alpha_lo)
    if not 0. <= lo < max_alpha:
      raise UserError(f'alpha_lo must be in [0, {max_alpha}), got {alpha_lo}.')
    make = lambda a: linear_alphas_np(lo, a, num_dims)

  rate_of = lambda a: committed_rate_np(make(a), num_steps)
  rate_min, rate_max = rate_of(lo), rate_of(max_alpha)
  if not rate_min - 1e-12 <= rate_nats <= rate_max:
    mode = ('a common alpha' if alpha_lo is None
            else f'alpha_lo={alpha_lo} and alpha_hi in [alpha_lo, {max_alpha}]')
    raise InfeasibleRateError(
        f'A committed rate of {rate} {units} is not reachable with n={num_steps} '
        f'steps, d={num_dims} dims and {mode}: the achievable range is '
        f'[{rate_min / scale:.6g}, {rate_max / scale:.6g}] {units}'
        + (' (with n=1 the committed rate is always 0)' if num_steps == 1 else '')
        + '. Change the rate, num_steps, num_dims or alpha_lo.')
  if rate_nats <= rate_min:
    return make(lo)
  return make(_bisect_increasing(rate_of, rate_nats, lo, max_alpha))


def alphas_for_rate_bits(rate_bits, num_steps, num_dims, alpha_lo=None,
                         max_alpha=MAX_ALPHA):
  """`alphas_for_rate` with the rate given in bits."""
  return alphas_for_rate(rate_bits, num_steps, num_dims, alpha_lo=alpha_lo,
                         units='bits', max_alpha=max_alpha)
