"""Dense references shared by the distribution tests."""

import numpy as np
import tensorflow_probability as tfp

tfd = tfp.distributions


def ar1_cholesky(alpha, num_steps):
  """Dense Cholesky factor of an AR(1) covariance, float64 `[n, n]`."""
  i = np.arange(num_steps)[:, None]
  j = np.arange(num_steps)[None, :]
  powers = np.where(i >= j, float(alpha) ** np.maximum(i - j, 0), 0.)
  scale = np.where(j == 0, 1., np.sqrt(1. - alpha ** 2))
  return powers * scale


def dense_ar1(alpha, num_steps):
  """The AR(1) prior of one dimension as a float64 `MultivariateNormalTriL`."""
  return tfd.MultivariateNormalTriL(
      loc=np.zeros(num_steps), scale_tril=ar1_cholesky(alpha, num_steps))


def adam(loss_fn, variables, steps, learning_rate, decay_to=None):
  """Minimises `loss_fn()` over `variables` with Adam inside one `tf.function`.

  `loss_fn(step)` receives the int32 step number (for per-step seeds). With
  `decay_to`, the learning rate decays linearly to that fraction over the last half
  of the steps, which helps reach tight tolerances.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  m = [tf.Variable(tf.zeros_like(v)) for v in variables]
  s = [tf.Variable(tf.zeros_like(v)) for v in variables]

  @tf.function
  def run():
    loss = tf.constant(0., variables[0].dtype)
    for step in tf.range(1, steps + 1):
      with tf.GradientTape() as tape:
        loss = tf.cast(loss_fn(step), loss.dtype)
      grads = tape.gradient(loss, variables)
      for v, g, m_v, s_v in zip(variables, grads, m, s):
        t = tf.cast(step, v.dtype)
        lr = tf.constant(learning_rate, v.dtype)
        if decay_to is not None:
          lr *= tf.minimum(tf.constant(1., v.dtype),
                           2. * (1. - t / steps) + decay_to)
        m_v.assign(0.9 * m_v + 0.1 * g)
        s_v.assign(0.999 * s_v + 0.001 * g * g)
        update = (m_v / (1. - 0.9 ** t)) / (tf.sqrt(s_v / (1. - 0.999 ** t)) + 1e-12)
        v.assign_sub(lr * update)
    return loss

  return run()
