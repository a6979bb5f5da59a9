"""Fault injection for testing the trainer's guards (configure in gin, never in real runs).

    train.fault_hook = @inject_nonfinite
    inject_nonfinite.at_step = 3
    inject_nonfinite.term = 'rate'
"""

import gin
import tensorflow as tf


@gin.configurable
def inject_nonfinite(out, step, at_step=gin.REQUIRED, term='rate', value=float('nan')):
  """Replace `out[term]` by `value` at global step `at_step` (1-based step being taken)."""
  out = dict(out)
  hit = tf.equal(tf.cast(step, tf.int64), at_step)
  out[term] = tf.where(hit, tf.fill(tf.shape(out[term]), value), out[term])
  return out
