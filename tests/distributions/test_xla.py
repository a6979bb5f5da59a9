"""Everything that runs in a training or sampling step compiles with XLA.

Stateless random numbers differ between XLA and eager execution (TensorFlow makes
no promise across the two), so compiled samples are checked for determinism and
against eager log-probs rather than for equality with eager samples.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from t2t_delta import distributions as dists

tfd = tfp.distributions


def test_ar1_log_prob_sample_and_kl_compile(rng):
  alphas = tf.constant([0.2, 0.9, 0.99], tf.float32)
  loc = tf.constant(rng.normal(size=[2, 16, 3]), tf.float32)
  scale = tf.constant(np.exp(rng.normal(size=[2, 16, 3]) * 0.3), tf.float32)

  def step(loc, scale, seed):
    prior = dists.AR1Prior(alphas, 16)
    z = prior.sample(2, seed=seed)
    q = tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=2)
    return (prior.log_prob(z), tfd.kl_divergence(q, prior),
            dists.ar1_kl_per_dim(loc, scale, alphas), z,
            dists.committed_rate(alphas, 16))

  seed = tf.constant([1, 2], tf.int32)
  compiled_step = tf.function(step, jit_compile=True)
  compiled = compiled_step(loc, scale, seed)
  eager = step(loc, scale, seed)
  for got, want in zip(compiled[1:3] + compiled[4:], eager[1:3] + eager[4:]):
    np.testing.assert_allclose(got, want, rtol=1e-5)
  z = compiled[3]
  assert z.shape == [2, 16, 3] and np.all(np.isfinite(z))
  np.testing.assert_allclose(compiled[0], dists.AR1Prior(alphas, 16).log_prob(z),
                             rtol=1e-5)
  np.testing.assert_array_equal(z, compiled_step(loc, scale, seed)[3])


def test_dmol_log_prob_and_sample_compile(rng):
  output = tf.constant(rng.normal(size=[2, 4, 4, 30]), tf.float32)
  values = tf.constant(rng.integers(0, 256, [2, 4, 4, 3]), tf.int32)

  def step(output, values, seed):
    dist = dists.dmol_from_network_output(output, 3, 3)
    pixel = dists.sample_pixel(output[:, 0, 0], 3, 3, seed)
    return (dist.log_prob(values), dist.log_prob_per_subpixel(values),
            dist.sample(seed=seed), pixel)

  seed = tf.constant([3, 4], tf.int32)
  compiled_step = tf.function(step, jit_compile=True)
  compiled = compiled_step(output, values, seed)
  eager = step(output, values, seed)
  np.testing.assert_allclose(compiled[0], eager[0], rtol=1e-5)
  np.testing.assert_allclose(compiled[1], eager[1], rtol=1e-5, atol=1e-5)
  assert compiled[2].shape == [2, 4, 4, 3] and compiled[3].shape == [2, 3]
  for samples in compiled[2:]:
    samples = samples.numpy()
    assert np.all((samples >= 0) & (samples <= 255) & (samples == np.round(samples)))
  again = compiled_step(output, values, seed)
  np.testing.assert_array_equal(compiled[2], again[2])


def test_lstm_prior_log_prob_and_sample_compile(rng):
  prior = dists.LSTMPrior(8, 3, 16)
  z = tf.constant(rng.normal(size=[4, 8, 3]), tf.float32)

  @tf.function(jit_compile=True)
  def step(z, seed):
    return prior.log_prob(z), prior.sample(4, seed=seed), prior.nll_loss(z)

  seed = tf.constant([5, 6], tf.int32)
  log_prob, sample, loss = step(z, seed)
  np.testing.assert_allclose(log_prob, prior.log_prob(z), rtol=1e-5)
  np.testing.assert_allclose(loss, -np.mean(log_prob), rtol=1e-5)
  assert sample.shape == [4, 8, 3] and np.all(np.isfinite(sample))
  np.testing.assert_array_equal(sample, step(z, seed)[1])
