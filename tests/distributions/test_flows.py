"""The autoregressive flows: the flow prior's density, the IAF posterior's log-prob."""

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta.distributions import flows


def test_flow_prior_density_matches_tfp_and_normalises_per_dim():
  prior = flows.AutoregressiveFlowPrior(2, num_steps=2, hidden_sizes=(8,))
  for step in prior.steps:                         # a non-trivial flow
    step.output_layer.kernel.assign(step.output_layer.kernel * 100.)
  z = tf.random.stateless_normal([5, 2], [1, 2])
  per_dim = prior.log_prob_per_dim(z)
  np.testing.assert_allclose(tf.reduce_sum(per_dim, -1), prior.distribution().log_prob(z),
                             rtol=1e-5, atol=1e-5)
  # Integrates to one (grid quadrature over a wide box).
  grid = np.linspace(-9, 9, 301)
  xx, yy = np.meshgrid(grid, grid)
  points = tf.constant(np.stack([xx.ravel(), yy.ravel()], -1), tf.float32)
  mass = np.exp(prior.log_prob(points).numpy()).sum() * (grid[1] - grid[0]) ** 2
  assert mass == pytest.approx(1.0, abs=0.02)
  samples = prior.sample(4, seed=tf.constant([3, 4]))
  assert samples.shape == (4, 2) and np.all(np.isfinite(samples))


def test_iaf_posterior_log_prob_matches_the_sampling_path():
  iaf = flows.InverseAutoregressiveFlow(3, num_steps=2, context_size=4,
                                        hidden_sizes=(8,))
  for step in iaf.steps:
    step.output_layer.kernel.assign(step.output_layer.kernel * 100.)
  loc, scale = tf.constant([[0.5, -1., 0.]]), tf.constant([[1., 0.5, 2.]])
  context = tf.random.normal([1, 4])
  z0 = loc + scale * tf.random.stateless_normal([1, 3], [5, 6])
  z, log_det = iaf.transform(z0, context)
  log_q = (tf.reduce_sum(flows.tfd.Normal(loc, scale).log_prob(z0), -1)
           - tf.reduce_sum(log_det, -1))
  q = iaf.distribution(loc, scale, context)
  fresh = tf.constant(z.numpy())                    # no bijector cache: inverts the flow
  np.testing.assert_allclose(q.log_prob(fresh), log_q, rtol=1e-4, atol=1e-4)
