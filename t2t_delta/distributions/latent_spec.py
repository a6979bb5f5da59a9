"""The latent sequence of a δ-VAE: its prior, posterior, KL and committed rate.

One `LatentSpec` holds everything the δ-VAE models (`delta_vae_image`,
`delta_vae_text`) decide about their `[B, n, d]` latents, checks it once with one set
of error messages, and builds the distributions from it:

* prior: `prior_type='ar1'`, one AR(1) process per dimension with alphas linear in
  `[alpha_lo, alpha_hi]`, or solved for `committed_rate_bits` (`alpha_hi` solved given
  `alpha_lo`, or one common alpha when `alpha_lo` is None); or
  `prior_type='standard_normal'`, N(0, I), which is represented as the AR(1) prior
  with every alpha 0 (the same distribution: its conditionals are N(0, 1)).
* posterior: `posterior_type='mean_field'`, N(loc, scale) with
  scale = `posterior_scale`(raw): 'exp' (exp(raw), the image model's default) or
  'softplus' (softplus(raw) + 1e-4, the text model's default); or
  `posterior_type='independent_delta'` (appendix D: each unit's KL to N(0, 1) is at
  least committed_rate_bits / (n d), in nats; needs the standard-normal prior).
* KL: the exact KL(q || p) per dimension over all steps, or over each example's real
  prefix given a step mask (text; see `prefix_posterior`).
* continuation: latents kept on some steps and continued by the prior's
  conditionals p(z_t | z_{t-1}) on the others (text positions after a sentence).

All rates are in nats unless a name says bits.
"""

import dataclasses
import math
from typing import Optional

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from t2t_delta.distributions import ar1
from t2t_delta.distributions import independent_delta
from t2t_delta.distributions import prefix_posterior
from t2t_delta.errors import UserError

tfd = tfp.distributions

PRIOR_TYPES = ('ar1', 'standard_normal')
POSTERIOR_TYPES = ('mean_field', 'independent_delta')
POSTERIOR_SCALES = ('exp', 'softplus')
POSTERIOR_INITS = ('small', 'informative')
# Added to softplus(raw) so that the posterior scale never reaches 0.
SOFTPLUS_SCALE_FLOOR = 1e-4


@dataclasses.dataclass(frozen=True)
class LatentSpec:
  """The latents of a δ-VAE, checked on construction (`validate`).

  Args:
    model_name: the gin name of the model, for error messages ('delta_vae_text').
    num_steps: n, latent steps (image rows, or the text window's max_length).
    latent_dim: d, dimensions per step.
    prior_type, posterior_type: see the module docstring.
    alpha_lo, alpha_hi: range of the AR(1) alphas, 0 <= alpha_lo <= alpha_hi < 1.
    committed_rate_bits: committed rate of all n steps, bits: solves the alphas
      (`prior_type='ar1'`) or sets the independent δ posterior's bound.
    posterior_scale: 'exp' or 'softplus', the map from the raw network output to the
      mean-field posterior's scale.
    posterior_init: 'small' (leave the posterior head as built) or 'informative'
      (see `initialize_posterior_head`).
  """
  model_name: str
  num_steps: int
  latent_dim: int
  prior_type: str = 'ar1'
  posterior_type: str = 'mean_field'
  alpha_lo: Optional[float] = 0.5
  alpha_hi: float = 0.95
  committed_rate_bits: Optional[float] = None
  posterior_scale: str = 'exp'
  posterior_init: str = 'small'
  _alphas_np: np.ndarray = dataclasses.field(init=False, repr=False, compare=False)

  def __post_init__(self):
    object.__setattr__(self, '_alphas_np', self.validate())

  # ---- configuration --------------------------------------------------------------
  def _check_choice(self, name, choices):
    value = getattr(self, name)
    if value not in choices:
      raise UserError(f'{self.model_name}.{name}={value!r} is not supported; valid: '
                      f'{", ".join(choices)}.')

  def validate(self):
    """Raises a one-line UserError for invalid settings; returns the alphas.

    Returns:
      float64 numpy `[d]` AR(1) alphas (zeros for the standard-normal prior).
    """
    name = self.model_name
    for field, choices in (('prior_type', PRIOR_TYPES),
                           ('posterior_type', POSTERIOR_TYPES),
                           ('posterior_scale', POSTERIOR_SCALES),
                           ('posterior_init', POSTERIOR_INITS)):
      self._check_choice(field, choices)
    if self.latent_dim < 1:
      raise UserError(f'{name}.latent_dim must be >= 1, got {self.latent_dim}.')
    if self.num_steps < 1:
      raise UserError(f'{name} needs at least one latent step, got '
                      f'{self.num_steps}.')
    zeros = np.zeros([self.latent_dim], np.float64)
    if self.posterior_type == 'independent_delta':
      if self.prior_type != 'standard_normal' or self.committed_rate_bits is None:
        raise UserError(
            f"{name}.posterior_type='independent_delta' needs "
            "prior_type='standard_normal' and committed_rate_bits (the δ it "
            f'guarantees, appendix D); got prior_type={self.prior_type!r}, '
            f'committed_rate_bits={self.committed_rate_bits}. Set both.')
      return zeros
    if self.prior_type == 'standard_normal':
      if self.committed_rate_bits is not None:
        raise UserError(
            f'{name}.committed_rate_bits={self.committed_rate_bits} needs '
            "prior_type='ar1' or posterior_type='independent_delta': a mean-field "
            'posterior commits no rate under a standard-normal prior. Drop '
            'committed_rate_bits or change the prior or posterior.')
      return zeros
    if self.committed_rate_bits is not None:
      return ar1.alphas_for_rate_bits(self.committed_rate_bits, self.num_steps,
                                      self.latent_dim, alpha_lo=self.alpha_lo)
    if self.alpha_lo is None or not 0. <= self.alpha_lo <= self.alpha_hi < 1.:
      raise UserError(
          f'{name} needs 0 <= alpha_lo <= alpha_hi < 1; got alpha_lo={self.alpha_lo}, '
          f'alpha_hi={self.alpha_hi}. Set both in that range, or set '
          'committed_rate_bits to solve for the alphas.')
    return ar1.linear_alphas_np(self.alpha_lo, self.alpha_hi, self.latent_dim)

  @property
  def alphas_np(self):
    """float64 numpy `[d]` AR(1) alphas (zeros for the standard-normal prior)."""
    return self._alphas_np.copy()

  @property
  def alphas(self):
    """float32 `[d]` AR(1) alphas (zeros for the standard-normal prior)."""
    return tf.constant(self._alphas_np, tf.float32)

  @property
  def delta_per_dim(self):
    """Independent δ posterior: the KL bound of each latent unit in nats, else None."""
    if self.posterior_type != 'independent_delta':
      return None
    return independent_delta.delta_per_dimension(
        float(self.committed_rate_bits) * math.log(2.),
        self.num_steps * self.latent_dim)

  def committed_rate_nats(self, num_steps=None):
    """δ in nats (Python float) of a sequence of `num_steps` real steps (default n).

    The minimum of the KL over all posteriors: δ(α, L) for the AR(1) prior, L d δ_dim
    for the independent δ posterior, 0 for a mean-field posterior under N(0, I).
    """
    num_steps = self.num_steps if num_steps is None else int(num_steps)
    if self.posterior_type == 'independent_delta':
      return num_steps * self.latent_dim * self.delta_per_dim
    if self.prior_type == 'standard_normal':
      return 0.0
    return ar1.committed_rate_np(self._alphas_np, num_steps)

  # ---- prior ----------------------------------------------------------------------
  def prior(self):
    """p(z), an `AR1Prior` with event shape `[n, d]` (alphas 0: N(0, I))."""
    return ar1.AR1Prior(self.alphas, self.num_steps)

  def sample_continuation(self, z, mask, seed):
    """z `[B, n, d]` kept where `mask` `[B, n]` is 1, sampled from the prior's
    conditionals p(z_t | z_{t-1}) elsewhere; seed is int32 `[2]`."""
    return self.prior().sample_continuation(z, mask, seed)

  # ---- posterior ------------------------------------------------------------------
  def _scale_from_raw(self, raw_scale):
    if self.posterior_scale == 'exp':
      return tf.exp(raw_scale)
    return tf.nn.softplus(raw_scale) + SOFTPLUS_SCALE_FLOOR

  def raw_scale_np(self, scale):
    """The raw network output (float64 numpy) whose posterior scale is `scale`."""
    scale = np.asarray(scale, np.float64)
    if self.posterior_scale == 'exp':
      return np.log(scale)
    return np.log(np.expm1(scale - SOFTPLUS_SCALE_FLOOR))          # softplus^-1

  def posterior_params(self, raw):
    """`(loc, scale)`, each `[..., d]` float32, from raw outputs `[..., 2d]`.

    The first d outputs are the (raw) mean, the last d the raw scale.
    """
    first, second = tf.split(tf.cast(raw, tf.float32), 2, axis=-1)
    if self.posterior_type == 'independent_delta':
      return independent_delta.independent_delta_posterior_params(
          first, second, self.delta_per_dim)
    return first, self._scale_from_raw(second)

  def initialize_posterior_head(self, head):
    """Applies `posterior_init` to a dense head (`kernel` `[h, 2d]`, `bias` `[2d]`)
    whose outputs feed `posterior_params`.

    'informative' (mean-field posterior only): the mean's kernel at 10 times its
    initial scale (posterior means differ between inputs from the first step), and
    each dimension's scale at the optimum of its KL for an input-independent mean,
    sigma^2 = (1 - alpha^2) / (1 + alpha^2) (`ar1.optimal_constant_scale_np`).
    'small' leaves the head as built.
    """
    if self.posterior_init != 'informative' or self.posterior_type != 'mean_field':
      return
    d = self.latent_dim
    raw_scale = self.raw_scale_np(ar1.optimal_constant_scale_np(self._alphas_np))
    head.kernel.assign(tf.concat([head.kernel[:, :d] * 10., head.kernel[:, d:]], 1))
    head.bias.assign(tf.concat([head.bias[:d], tf.constant(raw_scale, tf.float32)], 0))

  def posterior(self, loc, scale, mask=None):
    """q(z | x) with event shape `[n, d]` from `loc`, `scale` `[B, n, d]`.

    Without a mask, the mean-field Normal; with a step mask `[B, n]` (1 on each
    example's real prefix), the Normal on the real steps continued by the prior
    (`prefix_posterior.PrefixPosterior`).
    """
    if mask is None:
      return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=2)
    return prefix_posterior.PrefixPosterior(loc, scale, mask, alphas=self.alphas)

  @staticmethod
  def reparameterized_sample(loc, scale, seed):
    """z = loc + scale * eps, eps ~ N(0, I) from int32 `[2]` `seed`; `loc`'s shape."""
    eps = tf.random.stateless_normal(tf.shape(loc), seed, dtype=loc.dtype)
    return loc + scale * eps

  def kl_per_dim(self, loc, scale, mask=None):
    """KL(q || p) per latent dimension, `[B, d]` nats, of q = N(loc, scale) `[B, n, d]`.

    Without a mask, over all n steps (the AR(1) closed form, exact for alpha = 0 as
    well). With a step mask `[B, n]`, over each example's real prefix (= KL of
    `posterior(loc, scale, mask)` to the prior); for the standard-normal prior the
    elementwise N(0, 1) form, which avoids the differences of window KLs that the
    per-step AR(1) terms are made of.
    """
    if mask is None:
      return ar1.ar1_kl_per_dim(loc, scale, self.alphas)
    if self.prior_type == 'standard_normal':
      return prefix_posterior.masked_standard_normal_kl_per_dim(loc, scale, mask)
    return prefix_posterior.masked_ar1_kl_per_dim(loc, scale, self.alphas, mask)
