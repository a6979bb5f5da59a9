"""How per-example rate and distortion become the training loss.

Every objective maps a model's output (per-example nats, see `models/base.py`) and the
global step to a per-example loss [B]. The true negative ELBO, D + R, is always reported
beside whatever is optimised, by the trainer's metrics.

Objectives (select in gin: `train.objective = @beta_vae`, `beta_vae.beta = 0.5`):

* `elbo`           D + R
* `beta_vae`       D + β R                                   (Higgins et al.; Alemi et al.)
* `free_bits`      D + Σ_g max(λ, E_batch[R_g])              (Kingma et al. 2016, eq. 15)
* `kl_annealing`   D + min(1, step / warmup_steps) R         (Bowman et al. 2015)
* `target_rate`    D + |E_batch[R] − R*|                     (Alemi et al. 2018)
"""

import gin
import tensorflow as tf


def _aux(out):
  return out.get('aux_loss', 0.0)


@gin.configurable
def elbo(out, step):
  """Negative ELBO per example: D + R (nats)."""
  del step
  return out['distortion'] + out['rate'] + _aux(out)


@gin.configurable
def beta_vae(out, step, beta=1.0):
  """D + β·R. β < 1 favours rate (less collapse), β > 1 favours compression."""
  del step
  return out['distortion'] + beta * out['rate'] + _aux(out)


@gin.configurable
def kl_annealing(out, step, warmup_steps=10000, start_weight=0.0, delay_steps=0):
  """D + w(step)·R: w = `start_weight` for `delay_steps` steps, then rising linearly to 1
  over `warmup_steps`."""
  step = tf.cast(step, tf.float32)
  frac = tf.maximum(step - float(delay_steps), 0.0) / float(max(warmup_steps, 1))
  weight = tf.minimum(1.0, start_weight + (1.0 - start_weight) * frac)
  return out['distortion'] + tf.cast(weight, out['rate'].dtype) * out['rate'] + _aux(out)


@gin.configurable
def free_bits(out, step, lambda_nats=0.5):
  """D + Σ_g max(λ, mean over the batch of R_g) (IAF paper eq. 15).

  The rate is split into groups by the model (`rate_per_group` [B, G], e.g. one group
  per latent dimension). A group whose batch-mean rate is below λ receives no gradient
  from the rate term, so the encoder is free to use those λ nats. The batch mean is
  taken over the replica's examples; the per-example return value spreads the group
  term evenly over the batch so that averaging gives exactly eq. 15.
  """
  del step
  groups = out.get('rate_per_group')
  if groups is None:
    groups = out['rate'][:, None]
  mean_per_group = tf.reduce_mean(groups, axis=0)                      # [G]
  clipped = tf.maximum(tf.cast(lambda_nats, groups.dtype), mean_per_group)
  rate_term = tf.reduce_sum(clipped)
  return out['distortion'] + rate_term + _aux(out)


@gin.configurable
def target_rate(out, step, target_nats=10.0):
  """D + |E[R] − R*| (Alemi et al. 2018, §4): drives the *average* rate towards R*.

  The penalty is on the batch-mean rate, as the paper writes it, not on each example's
  (which would push every example to exactly R* and forbid spending more rate on
  images that need it). Each example's loss carries the same batch term, so the mean
  over the batch is exactly D̄ + |R̄ − R*|.
  """
  del step
  rate = out['rate']
  penalty = tf.abs(tf.reduce_mean(rate) - tf.cast(target_nats, rate.dtype))
  return out['distortion'] + penalty + _aux(out)

