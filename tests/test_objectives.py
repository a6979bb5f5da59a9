"""Objectives: each one's defining property, by values and gradients."""

import gin
import numpy as np
import pytest
import tensorflow as tf

from t2t_delta import objectives
from t2t_delta.runtime import gin_config
from t2t_delta.train import trainer  # noqa: F401  (registers the `train` gin scope)


def _out(distortion, rate, rate_per_group=None):
  out = {'distortion': tf.convert_to_tensor(distortion, tf.float32),
         'rate': tf.convert_to_tensor(rate, tf.float32)}
  if rate_per_group is not None:
    out['rate_per_group'] = rate_per_group
  return out


def _mean_loss(objective, out, step=0, **kwargs):
  return tf.reduce_mean(objective(out, step, **kwargs))


def test_elbo_is_distortion_plus_rate():
  out = _out([3.0, 5.0], [1.0, 2.5])
  np.testing.assert_allclose(objectives.elbo(out, 0), [4.0, 7.5])
  out['aux_loss'] = tf.constant([0.5, 0.5])
  np.testing.assert_allclose(objectives.elbo(out, 0), [4.5, 8.0])


@pytest.mark.parametrize('beta', [0.0, 0.5, 1.0, 4.0])
def test_beta_scales_the_rate_gradient(beta):
  rate = tf.Variable([1.0, 2.0, 3.0])
  distortion = tf.Variable([10.0, 10.0, 10.0])
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(objectives.beta_vae(_out(distortion, rate), 0, beta=beta))
  g_rate, g_dist = tape.gradient(loss, [rate, distortion])
  np.testing.assert_allclose(g_rate, [beta] * 3)
  np.testing.assert_allclose(g_dist, [1.0] * 3)


def test_free_bits_gradient_is_zero_below_lambda_and_normal_above():
  lam = 1.0
  # Batch means per group: 0.25 (below), 0.9 (below), 2.0 (above), 5.0 (above).
  groups = tf.Variable([[0.0, 0.8, 1.0, 4.0],
                        [0.5, 1.0, 3.0, 6.0]])
  batch = 2
  with tf.GradientTape() as tape:
    out = _out(tf.zeros([batch]), tf.reduce_sum(groups, -1), groups)
    loss = _mean_loss(objectives.free_bits, out, lambda_nats=lam)
  grad = tape.gradient(loss, groups).numpy()
  np.testing.assert_allclose(grad[:, :2], 0.0)
  np.testing.assert_allclose(grad[:, 2:], 1.0 / batch)   # d/dr of the batch mean
  # The value is eq. 15: sum over groups of max(lambda, batch mean).
  assert float(loss) == pytest.approx(lam + lam + 2.0 + 5.0)


def test_free_bits_without_groups_uses_the_total_rate():
  out = _out([1.0, 1.0], [0.1, 0.3])
  np.testing.assert_allclose(objectives.free_bits(out, 0, lambda_nats=0.5), [1.5, 1.5])


@pytest.mark.parametrize('start,delay', [(0.0, 0), (0.2, 0), (0.0, 60)])
def test_kl_annealing_weights_the_rate_on_the_linear_schedule(start, delay):
  warmup = 100
  rate = tf.Variable([2.0])
  for step in (0, 25, 50, 60, 99, 100, 160, 1000):
    expected = min(1.0, start + (1.0 - start) * max(step - delay, 0) / warmup)
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(objectives.kl_annealing(
          _out([1.0], rate), tf.constant(step), warmup_steps=warmup,
          start_weight=start, delay_steps=delay))
    assert float(tape.gradient(loss, rate)[0]) == pytest.approx(expected, abs=1e-6)
    assert float(loss) == pytest.approx(1.0 + expected * 2.0, abs=1e-5)


def test_target_rate_drives_the_rate_to_the_target():
  """A toy 'model' whose rate is softplus(theta) * 10 converges to R* under |R - R*|."""
  target = 7.0
  theta = tf.Variable(-2.0)

  @tf.function
  def step(i):
    with tf.GradientTape() as tape:
      rate = tf.nn.softplus(theta)[None] * 10.0
      # Distortion decreases with rate (a toy trade-off) but only mildly.
      distortion = 100.0 - 0.1 * rate
      loss = tf.reduce_mean(objectives.target_rate(_out(distortion, rate), 0,
                                                   target_nats=target))
    theta.assign_sub(0.05 / (1.0 + i / 20.0) * tape.gradient(loss, theta))

  for i in range(400):
    step(tf.constant(float(i)))
  final = float(tf.nn.softplus(theta) * 10.0)
  assert final == pytest.approx(target, abs=0.1)


def test_target_rate_penalises_the_batch_mean_rate():
  """|E R − R*|, not E|R − R*|: rates spread around the target cost nothing."""
  out = _out([10.0, 20.0], [5.0, 9.0])
  np.testing.assert_allclose(objectives.target_rate(out, 0, target_nats=7.0),
                             [10.0, 20.0])
  np.testing.assert_allclose(objectives.target_rate(out, 0, target_nats=4.0),
                             [13.0, 23.0])
  rate = tf.Variable([5.0, 9.0])
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(objectives.target_rate(_out([0.0, 0.0], rate), 0,
                                                 target_nats=4.0))
  np.testing.assert_allclose(tape.gradient(loss, rate), [0.5, 0.5])


def test_objectives_are_selected_in_gin():
  gin_config.parse_gin(gin_params=['train.objective = @beta_vae', 'beta_vae.beta = 0.5'])
  try:
    config = trainer.TrainConfig()
    out = _out([4.0], [2.0])
    np.testing.assert_allclose(config.objective(out, 0), [5.0])
  finally:
    gin.clear_config()
