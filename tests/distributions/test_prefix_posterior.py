"""PrefixPosterior (Normal on the real steps, the prior's conditionals after them) and
the AR(1) KL of a real prefix (per step, masked)."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from t2t_delta import distributions

tfd = tfp.distributions

ALPHAS = np.array([0.5, 0.9], np.float32)
T = 9


def _posterior(alphas=ALPHAS, lengths=(2, 5), steps=5):
  rng = np.random.default_rng(0)
  batch, dims = len(lengths), 2
  loc = rng.normal(size=(batch, steps, dims)).astype(np.float32)
  scale = rng.uniform(0.2, 1.0, size=(batch, steps, dims)).astype(np.float32)
  mask = (np.arange(steps)[None] < np.array(lengths)[:, None]).astype(np.float32)
  return distributions.PrefixPosterior(loc, scale, mask, alphas=alphas), loc, scale


def _brute_force_log_prob(z, loc, scale, length, alphas):
  """log q(z) of one example by its definition, step by step (float64)."""
  total = 0.0
  for t in range(z.shape[0]):
    if t < length:
      total += np.sum(-0.5 * ((z[t] - loc[t]) / scale[t]) ** 2 - np.log(scale[t])
                      - 0.5 * np.log(2 * np.pi))
    else:
      a = np.zeros_like(alphas) if alphas is None else alphas.astype(np.float64)
      mean = a * z[t - 1] if t > 0 else 0.0 * a
      std = np.sqrt(1 - a ** 2) if t > 0 else np.ones_like(a)
      total += np.sum(-0.5 * ((z[t] - mean) / std) ** 2 - np.log(std)
                      - 0.5 * np.log(2 * np.pi))
  return total


@pytest.mark.parametrize('alphas', [ALPHAS, None])
def test_log_prob_matches_its_definition(alphas):
  q, loc, scale = _posterior(alphas)
  z = q.sample(3, seed=(1, 2)).numpy()                                  # [3, 2, 5, 2]
  got = q.log_prob(z).numpy()
  for s in range(3):
    for b, length in enumerate((2, 5)):
      expected = _brute_force_log_prob(z[s, b].astype(np.float64), loc[b], scale[b],
                                       length, alphas)
      np.testing.assert_allclose(got[s, b], expected, rtol=1e-5)


def test_log_prob_broadcasts_over_a_sample_axis_against_the_batch():
  q, _, _ = _posterior()
  z = q.sample(4, seed=(3, 4))                                           # [4, 2, 5, 2]
  pairs = q.log_prob(tf.reshape(z, [8, 1, 5, 2])).numpy()                # [8, 2]
  direct = q.log_prob(z).numpy()                                         # [4, 2]
  np.testing.assert_allclose(pairs.reshape(4, 2, 2)[:, [0, 1], [0, 1]], direct,
                             rtol=1e-6)


def test_samples_follow_the_posterior_then_the_prior():
  """Moments over 40000 samples: the real steps are N(loc, scale); the continuation
  is the AR(1) transition from the last real step (mean α^k loc, variance grows)."""
  q, loc, scale = _posterior(lengths=(2, 5))
  z = q.sample(40000, seed=(5, 6)).numpy()
  np.testing.assert_allclose(z[:, 0, :2].mean(0), loc[0, :2], atol=0.02)
  np.testing.assert_allclose(z[:, 0, :2].std(0), scale[0, :2], rtol=0.03)
  np.testing.assert_allclose(z[:, 1].mean(0), loc[1], atol=0.02)       # all real
  for k, t in enumerate(range(2, 5), start=1):
    np.testing.assert_allclose(z[:, 0, t].mean(0), ALPHAS ** k * loc[0, 1], atol=0.02)
    expected_var = ALPHAS ** (2 * k) * scale[0, 1] ** 2 + (1 - ALPHAS ** (2 * k))
    np.testing.assert_allclose(z[:, 0, t].var(0), expected_var, rtol=0.04)
  np.testing.assert_allclose(q.mean().numpy()[0, 2:], ALPHAS[None] ** np.arange(
      1, 4)[:, None] * loc[0, 1], rtol=1e-5)


def test_kl_to_the_ar1_prior_is_the_kl_of_the_real_prefix():
  """Closed form (registered KL) equals the prefix KL and a Monte Carlo estimate of
  E_q[log q(z) - log p(z)] over the whole window."""
  q, loc, scale = _posterior()
  prior = distributions.AR1Prior(ALPHAS, 5)
  kl = tfd.kl_divergence(q, prior).numpy()
  for b, length in enumerate((2, 5)):
    prefix = distributions.ar1_kl(loc[b, :length], scale[b, :length], ALPHAS).numpy()
    np.testing.assert_allclose(kl[b], prefix, rtol=1e-5)
  z = q.sample(20000, seed=(7, 8))
  monte_carlo = tf.reduce_mean(q.log_prob(z) - prior.log_prob(z), axis=0).numpy()
  np.testing.assert_allclose(monte_carlo, kl, rtol=0.03, atol=0.02)


def test_kl_needs_the_same_prior_continuation():
  q, _, _ = _posterior(alphas=None)
  with pytest.raises(NotImplementedError, match='same AR'):
    tfd.kl_divergence(q, distributions.AR1Prior(ALPHAS, 5))


def test_ar1_per_step_terms_sum_to_ar1_kl():
  rng = np.random.default_rng(1)
  loc = tf.constant(rng.normal(size=(3, T, 2)), tf.float32)
  scale = tf.constant(rng.uniform(0.05, 2.0, size=(3, T, 2)), tf.float32)
  alphas = tf.constant([0.2, 0.9])
  terms = distributions.ar1_kl_per_step(loc, scale, alphas)
  np.testing.assert_allclose(tf.reduce_sum(terms, 1),
                             distributions.ar1_kl_per_dim(loc, scale, alphas),
                             rtol=1e-5)


def test_masked_kl_equals_kl_of_truncated_sequence():
  rng = np.random.default_rng(2)
  lengths = [T, 4, 1, 2]
  loc = tf.constant(rng.normal(size=(4, T, 3)), tf.float32)
  scale = tf.constant(rng.uniform(0.01, 3.0, size=(4, T, 3)), tf.float32)
  alphas = tf.constant([0.2, 0.5, 0.95])
  mask = tf.constant(np.arange(T)[None] < np.array(lengths)[:, None], tf.float32)
  masked = distributions.masked_ar1_kl_per_dim(loc, scale, alphas, mask).numpy()
  for b, n in enumerate(lengths):
    truncated = distributions.ar1_kl_per_dim(loc[b, :n], scale[b, :n], alphas)
    np.testing.assert_allclose(masked[b], truncated, rtol=1e-5, atol=1e-5)


def test_masked_kl_at_least_committed_rate_of_length():
  alphas = tf.constant([0.2, 0.4])
  loc = tf.zeros([1, T, 2])
  scale = tf.ones([1, T, 2]) * np.sqrt(1.0 / (1.0 + 0.4 ** 2))
  for n in range(1, T + 1):
    mask = tf.constant(np.arange(T)[None] < n, tf.float32)
    kl = tf.reduce_sum(distributions.masked_ar1_kl_per_dim(loc, scale, alphas, mask))
    assert kl.numpy() >= distributions.committed_rate(alphas, n).numpy() - 1e-5
