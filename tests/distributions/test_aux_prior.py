"""LSTMPrior: exact log-likelihood, no gradient into the encoder, learns AR(1)."""

import math

import numpy as np
import tensorflow as tf

from _dist_reference import adam
from t2t_delta.distributions import ar1
from t2t_delta.distributions import aux_prior


def _explicit_log_prob(prior, z):
  """Per-step loop: feed z_{i-1}, read N(loc_i, scale_i), add log N(z_i)."""
  z = tf.convert_to_tensor(z, tf.float32)
  batch = z.shape[0]
  hidden = tf.zeros([batch, prior.hidden_size])
  cell = tf.zeros([batch, prior.hidden_size])
  previous = tf.broadcast_to(prior.start, [batch, prior.num_dims])
  total = tf.zeros([batch])
  for i in range(prior.num_steps):
    gates = (tf.matmul(previous, prior.input_kernel)
             + tf.matmul(hidden, prior.recurrent_kernel) + prior.bias)
    in_gate, forget, candidate, out_gate = tf.split(gates, 4, axis=-1)
    cell = tf.sigmoid(forget) * cell + tf.sigmoid(in_gate) * tf.tanh(candidate)
    hidden = tf.sigmoid(out_gate) * tf.tanh(cell)
    out = tf.matmul(hidden, prior.output_kernel) + prior.output_bias
    loc = out[:, :prior.num_dims]
    scale = tf.nn.softplus(out[:, prior.num_dims:]) + aux_prior.SCALE_FLOOR
    log_density = (-0.5 * ((z[:, i] - loc) / scale) ** 2 - tf.math.log(scale)
                   - 0.5 * math.log(2 * math.pi))
    total += tf.reduce_sum(log_density, axis=-1)
    previous = z[:, i]
  return total


def _perturb(prior, rng):
  """Random non-zero values in every variable so nothing is trivially zero."""
  for v in prior.trainable_variables:
    v.assign(rng.normal(0., 0.5, v.shape).astype(np.float32))


def test_log_prob_matches_explicit_loop(rng):
  prior = aux_prior.LSTMPrior(num_steps=6, num_dims=3, hidden_size=8)
  _perturb(prior, rng)
  z = rng.normal(size=[4, 6, 3]).astype(np.float32)
  np.testing.assert_allclose(prior.log_prob(z), _explicit_log_prob(prior, z),
                             rtol=1e-5)


def test_forget_bias_and_variables():
  prior = aux_prior.LSTMPrior(5, 2, 4, name='aux')
  bias = prior.bias.numpy()
  np.testing.assert_array_equal(bias[4:8], 1.)
  np.testing.assert_array_equal(np.delete(bias, np.s_[4:8]), 0.)
  assert len(prior.trainable_variables) == 6
  assert all(v.dtype == tf.float32 for v in prior.trainable_variables)


def test_nll_loss_sends_no_gradient_to_z(rng):
  prior = aux_prior.LSTMPrior(5, 2, 8)
  _perturb(prior, rng)
  z = tf.constant(rng.normal(size=[3, 5, 2]), tf.float32)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(z)
    loss = prior.nll_loss(z)
    direct = -tf.reduce_mean(prior.log_prob(z))
  grad_z = tape.gradient(loss, z)
  assert grad_z is None or np.all(grad_z.numpy() == 0.)
  assert np.any(tape.gradient(direct, z).numpy() != 0.)     # the test can fail
  grads = tape.gradient(loss, prior.trainable_variables)
  assert all(g is not None and np.any(g.numpy() != 0.) for g in grads)


def test_sample_shape_finite_and_deterministic(rng):
  prior = aux_prior.LSTMPrior(7, 3, 8)
  _perturb(prior, rng)
  seed = tf.constant([4, 2], tf.int32)
  a = prior.sample(5, seed=seed)
  assert a.shape == [5, 7, 3] and np.all(np.isfinite(a))
  np.testing.assert_array_equal(a, prior.sample(5, seed=seed))


def test_sample_follows_the_model_conditionals(rng):
  """Samples standardised by the teacher-forced conditionals are N(0, 1)."""
  prior = aux_prior.LSTMPrior(4, 2, 8)
  _perturb(prior, rng)
  z = prior.sample(4000, seed=tf.constant([5, 5], tf.int32))
  loc, scale = prior.conditionals(z)
  standardized = ((z - loc) / scale).numpy()
  np.testing.assert_allclose(standardized.mean(0), 0., atol=0.08)
  np.testing.assert_allclose(standardized.std(0), 1., atol=0.08)


def test_training_on_ar1_samples_approaches_its_entropy():
  num_steps, alphas = 8, np.array([0.5, 0.9], np.float32)
  data_prior = ar1.AR1Prior(alphas, num_steps)
  prior = aux_prior.LSTMPrior(num_steps, 2, 16)
  held_out = data_prior.sample(2000, seed=tf.constant([0, 1]))
  entropy = float(np.sum(0.5 * math.log(2 * math.pi * math.e)
                         + (num_steps - 1) * 0.5
                         * np.log(2 * math.pi * math.e * (1 - alphas ** 2))))
  before = float(prior.nll_loss(held_out))
  seed = tf.constant([7, 7], tf.int32)
  adam(lambda step: prior.nll_loss(data_prior.sample(
      128, seed=tf.random.experimental.stateless_fold_in(seed, step))),
       prior.trainable_variables, 400, 1e-2)
  after = float(prior.nll_loss(held_out))
  assert after < before - 5.
  assert after < entropy + 0.3, (before, after, entropy)
