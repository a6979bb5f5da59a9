"""Autoregressive flows over a latent vector: the VLAE prior and the IAF posterior.

Both are stacks of affine autoregressive steps built on `t2t_delta.layers.made.MADE`,
with the ordering reversed between consecutive steps.

* `AutoregressiveFlowPrior` (VLAE, Chen et al. 2017, §3 and appendix A): p(z) is a
  standard normal pushed through an autoregressive flow (AF), z_i = u_i exp(a_i(z_<i))
  + m_i(z_<i). Density evaluation inverts each step in parallel (one MADE pass per
  step), u_i = (z_i - m_i(z_<i)) exp(-a_i(z_<i)); sampling is sequential. As a TFP
  distribution it is a `TransformedDistribution` with `tfb.MaskedAutoregressiveFlow`
  steps.
* `InverseAutoregressiveFlow` (IAF, Kingma et al. 2016, §4 and appendix C.8): starting
  from a diagonal Gaussian sample z_0 = mu + sigma eps, each step computes
  [m, s] = MADE(z, h) with the encoder's context h and
  z <- sigmoid(s) z + (1 - sigmoid(s)) m (the numerically stable "LSTM-type" update),
  in parallel; log q(z_T | x) = log q(z_0 | x) - Σ_t Σ_i log sigmoid(s_{t,i}).
  As a TFP distribution, a `TransformedDistribution` of the Gaussian with
  `IafStep` bijectors (forward parallel; inverse sequential, used only by `log_prob`
  of arbitrary points).

Each step transforms every dimension by an elementwise affine map, so the log-density
splits into per-dimension terms; `log_prob_per_dim` / `transform` return them for
per-dimension rate estimates (free bits).
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp

from t2t_delta.layers import core
from t2t_delta.layers import made as made_lib

tfb = tfp.bijectors
tfd = tfp.distributions

# Soft bound of the prior's log-scales, |a| < LOG_SCALE_BOUND (keeps sampling stable).
LOG_SCALE_BOUND = 3.0
# Added to s in the IAF gate so that every step starts close to the identity
# (Kingma et al. 2016, appendix: a forget-gate bias of 1 to 2).
IAF_FORGET_BIAS = 2.0


def _standard_normal_log_prob(x):
  return -0.5 * tf.square(x) - 0.5 * math.log(2. * math.pi)


def _made_steps(num_dims, num_steps, hidden_sizes, seeds, context_size=None):
  """One MADE per flow step (2 outputs per dimension), orderings alternating."""
  seeds = seeds or core.default_init_seeds()
  return [made_lib.MADE(num_dims, hidden_sizes, 2, ordering=o, context_size=context_size,
                        seeds=seeds, name=f'made_{i}')
          for i, o in enumerate(made_lib.alternating_orderings(num_steps))]


class AutoregressiveFlowPrior(tf.Module):
  """p(z) over `[d]`: N(0, I) through `num_steps` MADE affine autoregressive steps.

  Args:
    num_dims: d.
    num_steps: flow steps (0 gives the standard normal).
    hidden_sizes: MADE hidden widths.
    seeds: `core.SeedSequence`.
  """

  def __init__(self, num_dims, num_steps=2, hidden_sizes=(64, 64), seeds=None,
               name=None):
    super().__init__(name=name)
    self.num_dims, self.num_steps = int(num_dims), int(num_steps)
    with self.name_scope:
      self.steps = _made_steps(self.num_dims, self.num_steps, hidden_sizes, seeds)

  @staticmethod
  def _shift_and_log_scale(step, z):
    out = step(z)
    shift, raw = out[..., 0], out[..., 1]
    return shift, LOG_SCALE_BOUND * tf.tanh(raw / LOG_SCALE_BOUND)

  def log_prob_per_dim(self, z):
    """`[..., d]` terms summing to log p(z): log N(u_i) - Σ_steps a_i."""
    z = tf.convert_to_tensor(z, tf.float32)
    log_det = tf.zeros_like(z)
    for step in reversed(self.steps):   # the last generative step is inverted first
      shift, log_scale = self._shift_and_log_scale(step, z)
      z = (z - shift) * tf.exp(-log_scale)
      log_det -= log_scale
    return _standard_normal_log_prob(z) + log_det

  def log_prob(self, z):
    """`[...]` log p(z) in nats."""
    return tf.reduce_sum(self.log_prob_per_dim(z), axis=-1)

  def bijector(self):
    """The generative map u -> z as a TFP bijector (a chain of MAF steps)."""
    mafs = [tfb.MaskedAutoregressiveFlow(
        shift_and_log_scale_fn=lambda x, step=step: self._shift_and_log_scale(step, x),
        name=f'maf_{i}') for i, step in enumerate(self.steps)]
    return tfb.Chain(list(reversed(mafs))) if mafs else tfb.Identity()

  def distribution(self):
    """p(z) as a `tfd.TransformedDistribution` with event shape `[d]`."""
    base = tfd.Independent(tfd.Normal(tf.zeros([self.num_dims]), 1.0),
                           reinterpreted_batch_ndims=1)
    return tfd.TransformedDistribution(base, self.bijector(), name='AFPrior')

  def sample(self, num, seed):
    """`[num, d]` samples (sequential within each step)."""
    return self.distribution().sample(num, seed=seed)


class IafStep(tfb.Bijector):
  """One IAF step z -> sigmoid(s) z + (1 - sigmoid(s)) m with [m, s] = MADE(z, h)."""

  def __init__(self, made, context, forget_bias=IAF_FORGET_BIAS, name='iaf_step'):
    parameters = dict(locals())
    self._made = made
    self._context = context
    self._forget_bias = float(forget_bias)
    super().__init__(forward_min_event_ndims=1, is_constant_jacobian=False,
                     parameters=parameters, name=name)

  def gate(self, z):
    """`(m, log sigmoid(s))`, each `[..., d]`."""
    out = self._made(z, self._context)
    return out[..., 0], tf.math.log_sigmoid(out[..., 1] + self._forget_bias)

  def _forward(self, x):
    m, log_gate = self.gate(x)
    gate = tf.exp(log_gate)
    return gate * x + (1. - gate) * m

  def _inverse(self, y):
    # Fixed point of x = (y - (1 - g(x)) m(x)) / g(x): exact after d sweeps, since
    # sweep k fixes the k-th dimension in the MADE's ordering.
    x = tf.zeros_like(y)
    for _ in range(self._made.num_dims):
      m, log_gate = self.gate(x)
      gate = tf.exp(log_gate)
      x = (y - (1. - gate) * m) / gate
    return x

  def _forward_log_det_jacobian(self, x):
    return tf.reduce_sum(self.gate(x)[1], axis=-1)

  def _inverse_log_det_jacobian(self, y):
    return -self._forward_log_det_jacobian(self._inverse(y))


class InverseAutoregressiveFlow(tf.Module):
  """IAF posterior steps: `num_steps` context-conditioned MADEs, orderings alternating.

  Args:
    num_dims: d.
    num_steps: IAF steps.
    context_size: width of the encoder context h.
    hidden_sizes: MADE hidden widths.
    seeds: `core.SeedSequence`.
  """

  def __init__(self, num_dims, num_steps, context_size, hidden_sizes=(64, 64),
               seeds=None, name=None):
    super().__init__(name=name)
    self.num_dims, self.num_steps = int(num_dims), int(num_steps)
    with self.name_scope:
      self.steps = _made_steps(self.num_dims, self.num_steps, hidden_sizes, seeds,
                               context_size=context_size)

  def transform(self, z0, context):
    """`(z_T, log_det_per_dim)` with log_det_per_dim `[..., d]` = Σ_t log sigmoid(s_t)."""
    z, log_det = z0, tf.zeros_like(z0)
    for i, step in enumerate(self.steps):
      bijector = IafStep(step, context, name=f'iaf_{i}')
      m, log_gate = bijector.gate(z)
      gate = tf.exp(log_gate)
      z = gate * z + (1. - gate) * m
      log_det += log_gate
    return z, log_det

  def bijector(self, context):
    steps = [IafStep(step, context, name=f'iaf_{i}') for i, step in enumerate(self.steps)]
    return tfb.Chain(list(reversed(steps))) if steps else tfb.Identity()

  def distribution(self, loc, scale, context):
    """q(z | x) as a `tfd.TransformedDistribution`, batch `[B]`, event `[d]`."""
    base = tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)
    return tfd.TransformedDistribution(base, self.bijector(context), name='IAFPosterior')
