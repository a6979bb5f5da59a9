"""Independent delta-VAE posterior: a constrained Gaussian with KL to N(0, 1) >= delta.

Paper appendix D. With prior N(0, 1) and posterior N(mu, sigma) in one latent
dimension, KL = 1/2 (mu^2 + sigma^2 - ln sigma^2 - 1), so KL >= delta exactly when

    mu^2 >= 2 delta + 1 + ln sigma^2 - sigma^2.                      (eq. 4)

The right-hand side must be reachable, which confines sigma to the interval
[sigma_l, sigma_u] around 1 where ln sigma^2 - sigma^2 + 2 delta + 1 >= 0. The
posterior is parameterised from raw network outputs (mu_raw, sigma_raw) as

    sigma = sigma_l + (sigma_u - sigma_l) * sigmoid(sigma_raw)         (eq. 5)
    mu    = sqrt(2 delta + 1 + ln sigma^2 - sigma^2 + max(0, mu_raw))  (eq. 6)

Eq. 6 as printed omits the square root; since eq. 4 constrains mu^2, the right-hand
side is the square of the mean, and we take its square root. Then
KL = delta + max(0, mu_raw) / 2 >= delta for every input. The mean is never
negative, as in the paper.

delta is per latent dimension, in nats.
"""

import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from t2t_delta.errors import UserError

tfd = tfp.distributions

# The interval is shrunk by this relative amount so that rounding sigma to float32
# cannot leave the feasible set.
_INTERVAL_MARGIN = 1e-6


def _feasibility(log_var, delta):
  """ln sigma^2 - sigma^2 + 2 delta + 1 as a function of t = ln sigma^2."""
  return log_var - np.exp(log_var) + 2. * delta + 1.


def _bisect_root(fn, lo, hi, iterations=200):
  """Root of fn in [lo, hi] given fn(lo), fn(hi) of opposite sign (float64)."""
  f_lo = fn(lo)
  for _ in range(iterations):
    mid = 0.5 * (lo + hi)
    f_mid = fn(mid)
    if (f_mid >= 0.) == (f_lo >= 0.):
      lo, f_lo = mid, f_mid
    else:
      hi = mid
  return 0.5 * (lo + hi)


def feasible_sigma_interval(delta):
  """`(sigma_l, sigma_u)`, Python floats, where ln s^2 - s^2 + 2 delta + 1 >= 0.

  Computed by bisection in float64 on t = ln sigma^2. The lower root lies in
  [-(1 + 2 delta), 0] (because -e^t < 0) and the upper root in [0, 2 sqrt(delta)]
  (because e^t >= 1 + t + t^2 / 2). For delta = 0 both are 1. The returned interval
  is shrunk by a relative 1e-6 at each end so that it stays feasible after rounding to float32.

  Args:
    delta: committed rate per dimension in nats, >= 0.
  """
  delta = float(delta)
  if not delta >= 0.:
    raise UserError(f'delta must be >= 0 nats, got {delta}.')
  if delta == 0.:
    return 1.0, 1.0
  fn = lambda t: _feasibility(t, delta)
  t_lo = _bisect_root(fn, -(1. + 2. * delta), 0.)
  t_hi = _bisect_root(fn, 0., 2. * math.sqrt(delta))
  sigma_l = math.exp(0.5 * t_lo)
  sigma_u = math.exp(0.5 * t_hi)
  return sigma_l * (1. + _INTERVAL_MARGIN), sigma_u * (1. - _INTERVAL_MARGIN)


def independent_delta_posterior_params(mu_raw, sigma_raw, delta):
  """Posterior `(loc, scale)` with KL(N(loc, scale) || N(0, 1)) >= delta.

  Args:
    mu_raw: `[...]` unconstrained network output for the mean.
    sigma_raw: `[...]` unconstrained network output for the scale.
    delta: Python float, committed rate per dimension in nats.

  Returns:
    `(loc, scale)`, each `[...]` in float32 (float64 inputs stay float64). The
    computation is upcast from bfloat16/float16.
  """
  mu_raw = tf.convert_to_tensor(mu_raw)
  dtype = tf.float64 if mu_raw.dtype == tf.float64 else tf.float32
  mu_raw = tf.cast(mu_raw, dtype)
  sigma_raw = tf.cast(sigma_raw, dtype)
  sigma_l, sigma_u = feasible_sigma_interval(delta)
  scale = sigma_l + (sigma_u - sigma_l) * tf.sigmoid(sigma_raw)
  # slack = 2 delta + 1 + ln sigma^2 - sigma^2 = 2 delta - f(sigma^2), with
  # f(x) = (x - 1) - ln x evaluated without adding 1 first, which would cost all
  # precision for small delta.
  var_minus_one = (scale - 1.) * (scale + 1.)
  slack = 2. * delta - (var_minus_one - 2. * tf.math.log(scale))
  # Rounding can make `slack` a hair negative at the interval ends; the clamp keeps
  # the square root real without lowering the bound by more than rounding error.
  loc = tf.sqrt(tf.maximum(slack, 0.) + tf.nn.relu(mu_raw))
  return loc, scale


def independent_delta_normal(mu_raw, sigma_raw, delta):
  """The constrained posterior as a `tfd.Normal` with batch shape `[...]`."""
  loc, scale = independent_delta_posterior_params(mu_raw, sigma_raw, delta)
  return tfd.Normal(loc=loc, scale=scale)


def delta_per_dimension(total_rate_nats, num_latent_dims):
  """Splits a committed rate for the whole latent evenly: nats per dimension.

  Args:
    total_rate_nats: committed rate of the whole latent vector, nats.
    num_latent_dims: number of independent Gaussian latents (e.g. n * d).
  """
  if num_latent_dims < 1:
    raise UserError(f'num_latent_dims must be >= 1, got {num_latent_dims}.')
  if total_rate_nats < 0:
    raise UserError(f'The committed rate must be >= 0 nats, got {total_rate_nats}.')
  return float(total_rate_nats) / int(num_latent_dims)


def standard_normal_kl(loc, scale):
  """KL(N(loc, scale) || N(0, 1)) elementwise, nats."""
  return 0.5 * (tf.square(loc) + tf.square(scale) - 2. * tf.math.log(scale) - 1.)
