"""Adam for `tf.Module` models in a custom loop under any `tf.distribute` strategy.

Call `apply_gradients(grads, variables, apply)` in replica context; the gradients are
summed across replicas (each replica's loss is already divided by the *global* batch,
so the sum is the mean over the global batch), optionally clipped by global norm, and
applied identically on every replica. `apply` (bool scalar) skips the update when False
on any replica; the non-finite guard uses it. `iterations` counts every step, skipped or
not, and is the run's global step.
"""

import math

import gin
import tensorflow as tf

from t2t_delta.errors import UserError


def _check_hyperparameters(beta1, beta2, epsilon, clip_norm):
  """UserError naming the adam.* binding of a value Adam cannot use."""
  number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
  checks = (('beta1', beta1, number(beta1) and 0 <= beta1 < 1, 'a number in [0, 1)'),
            ('beta2', beta2, number(beta2) and 0 <= beta2 < 1, 'a number in [0, 1)'),
            ('epsilon', epsilon, number(epsilon) and 0 < epsilon < math.inf,
             'a finite number > 0'),
            ('clip_norm', clip_norm, clip_norm is None or (
                number(clip_norm) and 0 < clip_norm < math.inf),
             'None or a finite number > 0'))
  for name, value, ok, expected in checks:
    if not ok:
      raise UserError(f'adam.{name}={value!r} is invalid: expected {expected}; fix the '
                      f'adam.{name} binding.')


@gin.configurable('adam', denylist=['variables', 'learning_rate_fn', 'name'])
class Adam(tf.Module):
  """Adam (Kingma & Ba) with bias correction and optional global-norm clipping."""

  def __init__(self, variables, learning_rate_fn, beta1=0.9, beta2=0.999, epsilon=1e-8,
               clip_norm=None, name='adam'):
    super().__init__(name=name)
    _check_hyperparameters(beta1, beta2, epsilon, clip_norm)
    self.learning_rate_fn = learning_rate_fn
    self.beta1, self.beta2, self.epsilon, self.clip_norm = beta1, beta2, epsilon, clip_norm
    self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name='iterations')
    self.skipped = tf.Variable(0, dtype=tf.int64, trainable=False, name='skipped')
    with tf.name_scope('slots'):
      self.m = [tf.Variable(tf.zeros_like(v), trainable=False, name='m') for v in variables]
      self.v = [tf.Variable(tf.zeros_like(v), trainable=False, name='v') for v in variables]

  def learning_rate(self):
    """Learning rate of the step about to be taken (schedules count from step 1)."""
    return self.learning_rate_fn(self.iterations + 1)

  def apply_gradients(self, grads, variables, apply=True):
    context = tf.distribute.get_replica_context()
    failure = 1.0 - tf.cast(apply, tf.float32)
    return context.merge_call(self._apply_cross_replica, args=(grads, variables, failure))

  def _apply_cross_replica(self, strategy, grads, variables, failure):
    grads = strategy.extended.batch_reduce_to(tf.distribute.ReduceOp.SUM,
                                              list(zip(grads, variables)))
    # Apply only if no replica saw a non-finite value (ReduceOp has no MIN: count).
    failures = strategy.extended.reduce_to(tf.distribute.ReduceOp.SUM, failure,
                                           variables[0])
    scale = None
    if self.clip_norm:
      local = [strategy.experimental_local_results(g)[0] for g in grads]
      norm = tf.linalg.global_norm(local)
      scale = tf.minimum(1.0, self.clip_norm / tf.maximum(norm, 1e-12))
    lr = tf.cast(self.learning_rate(), tf.float32)
    t = tf.cast(self.iterations + 1, tf.float32)
    beta1, beta2 = tf.constant(self.beta1, tf.float32), tf.constant(self.beta2, tf.float32)
    beta1_power, beta2_power = beta1 ** t, beta2 ** t
    epsilon = tf.constant(self.epsilon, tf.float32)

    def update(var, grad, m, v, failures):
      # One fused kernel per variable (a single pass over var, m, v and grad):
      #   m += (g - m)(1 - beta1);  v += (g^2 - v)(1 - beta2)
      #   var -= lr sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon)
      def apply():
        g = grad if scale is None else grad * scale
        return tf.raw_ops.ResourceApplyAdam(
            var=var.handle, m=m.handle, v=v.handle, beta1_power=beta1_power,
            beta2_power=beta2_power, lr=lr, beta1=beta1, beta2=beta2, epsilon=epsilon,
            grad=g)
      return tf.cond(tf.convert_to_tensor(failures) < 0.5, apply, tf.no_op)

    updates = [strategy.extended.update(var, update, args=(g, m, v, failures), group=True)
               for var, g, m, v in zip(variables, grads, self.m, self.v)]
    failed = strategy.experimental_local_results(failures)[0] > 0.5
    with tf.control_dependencies(updates):
      skipped = self.skipped.assign_add(tf.cast(failed, tf.int64))
      with tf.control_dependencies([skipped]):
        return self.iterations.assign_add(1)
