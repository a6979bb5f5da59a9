"""The posterior of a variable-length latent sequence, continued by the prior.

A text model carries one latent per position of a padded window of T steps, but only
the first L steps (the real tokens, EOS included) are inferred from x; the decoder
never reads a latent beyond its own position, so the steps after L are not part of
the model's likelihood. As a distribution over the whole window, the posterior is

    q(z | x) = Π_{t < L} N(z_t; μ_t(x), σ_t(x)) · p(z_L, ..., z_{T-1} | z_{L-1}),

the encoder's mean-field Normal on the real steps continued by the prior's own
conditionals (AR(1): p(z_t | z_{t-1}) = N(α z_{t-1}, √(1 - α²)); standard normal:
N(0, 1)). Then KL(q || p) over the window equals the KL of the first L steps (the
continuation factors are the prior's and cancel), which is the rate the model
trains on, and every quantity defined on the window (samples, log-densities, the
aggregate posterior of the information diagnostics) is well defined whatever the
lengths of the sentences compared.

All log-densities and rates are in nats.
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp

from t2t_delta.distributions import ar1
from t2t_delta.distributions import independent_delta

tfd = tfp.distributions

_HALF_LOG_TWO_PI = 0.5 * math.log(2. * math.pi)


class PrefixPosterior(tfd.Distribution):
  """q(z | x) over a padded window: Normal on the masked prefix, prior beyond it.

  Args:
    loc, scale: `[..., T, d]` the encoder's posterior on every step (only the
      masked steps are used).
    mask: `[..., T]` 1.0 on the real steps (a prefix) and 0.0 after.
    alphas: `[d]` AR(1) coefficients of the prior that continues the sequence, or
      None for a standard normal prior.

  Batch shape `[...]`, event shape `[T, d]`.
  """

  def __init__(self, loc, scale, mask, alphas=None, validate_args=False,
               allow_nan_stats=True, name='PrefixPosterior'):
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      self._loc = tf.convert_to_tensor(loc, tf.float32)
      self._scale = tf.convert_to_tensor(scale, tf.float32)
      self._mask = tf.cast(mask, tf.float32)
      self._alphas = None if alphas is None else tf.cast(alphas, tf.float32)
      # The prior whose conditionals continue the sequence (alpha = 0: N(0, I)).
      self._continuation = ar1.AR1Prior(
          tf.zeros(self._loc.shape[-1:]) if alphas is None else self._alphas,
          self._loc.shape[-2])
      super().__init__(dtype=tf.float32,
                       reparameterization_type=tfd.FULLY_REPARAMETERIZED,
                       validate_args=validate_args, allow_nan_stats=allow_nan_stats,
                       parameters=parameters, name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    return dict(
        loc=tfp.util.ParameterProperties(event_ndims=2),
        scale=tfp.util.ParameterProperties(event_ndims=2),
        mask=tfp.util.ParameterProperties(event_ndims=1),
        alphas=tfp.util.ParameterProperties(event_ndims=1, is_preferred=False))

  @property
  def loc(self):
    return self._loc

  @property
  def scale(self):
    return self._scale

  @property
  def mask(self):
    return self._mask

  @property
  def alphas(self):
    return self._alphas

  def _event_shape(self):
    return self._loc.shape[-2:]

  def _event_shape_tensor(self):
    return tf.shape(self._loc)[-2:]

  def _batch_shape(self):
    return self._loc.shape[:-2]

  def _batch_shape_tensor(self):
    return tf.shape(self._loc)[:-2]

  def _sample_n(self, n, seed=None):
    seed = tfp.random.sanitize_seed(seed)
    shape = tf.concat([[n], tf.shape(self._loc)], axis=0)
    eps = tf.random.stateless_normal(shape, seed=seed)
    return self._continuation.continue_sequence(self._loc + self._scale * eps,
                                                self._mask, eps)

  def _mean(self):
    return self._continuation.continue_sequence(self._loc, self._mask,
                                                tf.zeros_like(self._loc))

  def continuation_log_prob(self, z):
    """`[..., T, d]` log p(z_t | z_{t-1}) of the prior at every step (nats)."""
    decay, innovation = self._continuation.transition_coefficients()
    previous = tf.pad(z[..., :-1, :], [[0, 0]] * (len(z.shape) - 2) + [[1, 0], [0, 0]])
    residual = (z - decay * previous) / innovation
    return -0.5 * tf.square(residual) - tf.math.log(innovation) - _HALF_LOG_TWO_PI

  def _log_prob(self, z):
    z = tf.convert_to_tensor(z, tf.float32)
    real = self._mask[..., tf.newaxis]
    inferred = tfd.Normal(self._loc, self._scale).log_prob(z)
    per_step = real * inferred + (1. - real) * self.continuation_log_prob(z)
    return tf.reduce_sum(per_step, axis=[-2, -1])


def ar1_kl_per_step(q_loc, q_scale, alphas):
  """Per-step terms of KL(q || AR(1)) whose prefix sums are prefix KLs, `[B, n, d]`.

  Term 1 is the first-step term; term i > 1 is the transition term coupling steps
  i - 1 and i. Σ_{i<=L} term_i = KL of the first L steps. The terms are read off
  `ar1_kl_per_dim` on windows of one and two steps (KL of a 2-step window minus that
  of its first step), so no closed form is restated here.

  Args:
    q_loc, q_scale: `[B, n, d]` posterior means and standard deviations.
    alphas: `[d]` AR(1) coefficients.
  """
  single = ar1.ar1_kl_per_dim(q_loc[..., None, :], q_scale[..., None, :], alphas)
  if q_loc.shape[-2] == 1:
    return single
  pair_loc = tf.stack([q_loc[:, :-1], q_loc[:, 1:]], axis=-2)          # [B, n-1, 2, d]
  pair_scale = tf.stack([q_scale[:, :-1], q_scale[:, 1:]], axis=-2)
  pair = ar1.ar1_kl_per_dim(pair_loc, pair_scale, alphas)              # [B, n-1, d]
  return tf.concat([single[:, :1], pair - single[:, :-1]], axis=1)


def masked_ar1_kl_per_dim(q_loc, q_scale, alphas, mask):
  """KL(q || AR(1)) over each example's real prefix, `[B, d]` nats.

  Args:
    q_loc, q_scale: `[B, n, d]`.
    alphas: `[d]`.
    mask: `[B, n]`, 1 on the first L_b steps and 0 after (a prefix mask).

  Equals `ar1_kl_per_dim(q_loc[b, :L_b], q_scale[b, :L_b], alphas)` for every b, and
  KL(PrefixPosterior(q_loc, q_scale, mask, alphas) || AR1Prior(alphas, n)).
  """
  terms = ar1_kl_per_step(q_loc, q_scale, alphas)
  return tf.reduce_sum(terms * tf.cast(mask, terms.dtype)[..., None], axis=1)


def masked_standard_normal_kl_per_dim(q_loc, q_scale, mask):
  """KL(q || N(0, I)) over the masked steps, `[B, d]` nats."""
  terms = independent_delta.standard_normal_kl(q_loc, q_scale)
  return tf.reduce_sum(terms * tf.cast(mask, terms.dtype)[..., None], axis=1)


@tfd.RegisterKL(PrefixPosterior, ar1.AR1Prior)
def _kl_prefix_posterior_ar1(q, p, name=None):
  """KL(PrefixPosterior || AR1Prior) in closed form: the KL of the real prefix.

  The posterior must be continued by the same prior (its alphas equal p's), else
  the continuation does not cancel and no closed form is offered.
  """
  with tf.name_scope(name or 'kl_prefix_posterior_ar1'):
    if q.alphas is None or q.alphas.shape != p.alphas.shape:
      raise NotImplementedError('KL(PrefixPosterior || AR1Prior) needs the posterior '
                                "continued by the same AR(1) prior (equal alphas).")
    return tf.reduce_sum(masked_ar1_kl_per_dim(q.loc, q.scale, p.alphas, q.mask), -1)
