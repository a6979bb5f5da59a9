"""Learning-rate schedules (select in gin: `train.learning_rate = @delta_vae_schedule`).

Every schedule is `schedule(step, total_steps=None) -> learning rate`: the trainer
passes the run's `train.steps` as `total_steps`, so a schedule whose shape depends on
the run's length (the cosine decay) follows `--train_steps` without a second binding.

The δ-VAE paper (appendix E) tweaks the Transformer schedule:

    lr(step) = c · h_d^(−0.5) · min(step^(−0.35), step · w^(−1.5))

with (c, w) = (0.18, 4000) for ImageNet 32×32 and (0.36, 8000) for CIFAR-10, and a
constant 1e-4 for the ablations. The extracted paper text prints the exponents without
minus signs; the Transformer schedule it modifies warms up linearly and then decays, so
the exponents are read as negative here. Note that with exponents −0.35 and −1.5 the two
branches do not meet at step = w (they would for −0.5/−1.5); the minimum picks the
linear warm-up until step^(−0.35) takes over, which happens after w.
"""

import math

import gin
import tensorflow as tf


@gin.configurable('constant_learning_rate', denylist=['total_steps'])
def constant(step, value=1e-4, total_steps=None):
  """A constant learning rate (gin name `constant_learning_rate`: `gin.constant` exists)."""
  del step, total_steps
  return tf.constant(value, tf.float32)


@gin.configurable(denylist=['total_steps'])
def delta_vae_schedule(step, scale=0.36, warmup_steps=8000, hidden_size=256,
                       decay_exponent=0.35, total_steps=None):
  """scale · hidden_size^-0.5 · min(step^-decay_exponent, step · warmup_steps^-1.5)."""
  del total_steps
  step = tf.maximum(tf.cast(step, tf.float32), 1.0)
  return (scale * hidden_size ** -0.5 *
          tf.minimum(step ** -decay_exponent, step * warmup_steps ** -1.5))


@gin.configurable(denylist=['total_steps'])
def linear_warmup_constant(step, value=1e-3, warmup_steps=100, total_steps=None):
  """Linear warm-up to `value` over `warmup_steps`, then constant (for short CPU runs)."""
  del total_steps
  step = tf.cast(step, tf.float32) + 1.0
  return value * tf.minimum(1.0, step / float(max(warmup_steps, 1)))


@gin.configurable(denylist=['total_steps'])
def linear_warmup_cosine_decay(step, value=1e-3, warmup_steps=100, decay_steps=None,
                               final_fraction=0.0, total_steps=None):
  """Linear warm-up to `value`, then cosine decay to `final_fraction · value`.

  Warm-up as in `linear_warmup_constant`; the decay reaches its final value at the
  `decay_steps`-th step (warm-up included) and stays there. `decay_steps=None` (the
  default) decays over the run: `total_steps`, which the trainer sets to `train.steps`.
  """
  if decay_steps is None:
    if total_steps is None:
      raise ValueError('linear_warmup_cosine_decay needs decay_steps or the run\'s '
                       'total_steps (the trainer passes train.steps).')
    decay_steps = total_steps
  warmup = linear_warmup_constant(step, value=1.0, warmup_steps=warmup_steps)
  step = tf.cast(step, tf.float32) + 1.0
  span = float(max(decay_steps - warmup_steps, 1))
  progress = tf.clip_by_value((step - float(warmup_steps)) / span, 0.0, 1.0)
  cosine = 0.5 * (1.0 + tf.cos(progress * math.pi))
  return value * warmup * (final_fraction + (1.0 - final_fraction) * cosine)
