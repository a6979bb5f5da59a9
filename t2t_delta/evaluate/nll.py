"""Importance-sampled negative log-likelihood (Burda et al. 2016 style bound).

With K samples z_k ~ q(z | x),

    log p(x) >= log (1/K) Σ_k exp(w_k),
    w_k = log p(x | z_k) + log p(z_k) - log q(z_k | x),

which is a lower bound that is never looser than the ELBO estimated from the same
samples (mean_k w_k, by Jensen's inequality) and tightens to log p(x) as K grows; it is
exact for every K when q is the true posterior (then w_k = log p(x) for all k).

Works with any `LatentVariableModel` through `encode`, `prior` and `likelihood`:

* q(z | x) = `model.encode(features, training=False, seed)`; the samples and their
  log-densities come from `experimental_sample_and_log_prob`, so flow posteriors (IAF)
  never need their inverse;
* log p(z) = `model.named_prior(prior).log_prob(z)`: the model's own prior
  (`prior='model'`, e.g. the AR(1) prior) or its auxiliary prior (`prior='aux'`);
* log p(x | z) = `model.log_likelihood(features, z)` (for text problems the token
  log-probabilities summed over the real tokens).

The K samples are drawn in chunks of `chunk_size`: each chunk tiles the batch
`chunk_size` times and runs one compiled call, so memory is bounded by
`chunk_size * batch` decoder evaluations.
"""

import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from t2t_delta import distributions
from t2t_delta.errors import UserError
from t2t_delta.train import inputs

tfd = tfp.distributions


def data_log_likelihood(model, features, z, training=False, seed=None):
  """log p(x | z) `[B]` nats for latents z `[B, ...]` (`model.log_likelihood`)."""
  return model.log_likelihood(features, z, training=training, seed=seed)


def _tile(x, times):
  return tf.tile(x, tf.concat([[times], tf.ones([tf.rank(x) - 1], tf.int32)], 0))


def _merge(x):
  """[k, B, ...] -> [k * B, ...]."""
  return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))


def prior_log_prob(model, z, prior='model'):
  """log p(z) `[N]` for z `[N, ...]` under the prior named `prior` ('model', 'aux')."""
  return model.named_prior(prior).log_prob(z)


def _masked_sequence_log_ratio(model, posterior, z, prior):
  """Σ_{t ≤ L} [log p(z_t | z_<t) − log q(z_t | x)] `[k, B]` for a `PrefixPosterior`.

  Sequence models (text) carry latents at padded positions too. Those positions are
  not part of the model's ELBO (the rate is the KL of the real prefix), and the prior's
  marginal over the first L steps is the prefix of its chain, so the importance weight
  uses the real steps only. (Under the model's own prior the continuation factors of
  q and p are equal and cancel anyway; under the auxiliary prior they would not, and
  would add variance without changing the estimate's expectation.)
  """
  k, batch = tf.shape(z)[0], tf.shape(z)[1]
  flat_z = _merge(z)                                                  # [kB, T, d]
  step_mask = _tile(posterior.mask, k)                                 # [kB, T]
  q_loc, q_scale = _tile(posterior.loc, k), _tile(posterior.scale, k)   # [kB, T, d]
  log_q = tf.reduce_sum(tfd.Normal(q_loc, q_scale).log_prob(flat_z), -1)
  if prior == 'aux':
    p_loc, p_scale = model.aux_prior.conditionals(flat_z)
  else:
    prior_dist = model.prior()
    if isinstance(prior_dist, distributions.AR1Prior):
      decay, scale = (tf.cast(c, flat_z.dtype)
                      for c in prior_dist.transition_coefficients())   # [T, d]
      previous = tf.pad(flat_z[:, :-1], [[0, 0], [1, 0], [0, 0]])
      p_loc = decay * previous
      p_scale = scale * tf.ones_like(previous)
    else:  # factorised over steps (e.g. N(0, I))
      p_loc, p_scale = tf.zeros_like(flat_z), tf.ones_like(flat_z)
  log_p = tf.reduce_sum(tfd.Normal(p_loc, p_scale).log_prob(flat_z), -1)
  ratio = tf.reduce_sum((log_p - log_q) * step_mask, axis=-1)
  return tf.reshape(ratio, [k, batch])


def log_weights(model, features, num_samples, seed, prior='model'):
  """Importance log-weights w `[num_samples, B]` (nats) for one batch."""
  seed = tf.convert_to_tensor(seed, tf.int32)
  encoder_seed, sample_seed, decoder_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 3))
  posterior = model.encode(features, training=False, seed=encoder_seed)
  z, log_q = posterior.experimental_sample_and_log_prob([num_samples], seed=sample_seed)
  batch = tf.shape(log_q)[1]
  tiled = {key: _tile(value, num_samples) for key, value in features.items()}
  flat_z = _merge(z)
  log_px = data_log_likelihood(model, tiled, flat_z, training=False, seed=decoder_seed)
  if isinstance(posterior, distributions.PrefixPosterior):
    ratio = _masked_sequence_log_ratio(model, posterior, z, prior)
    return tf.reshape(tf.cast(log_px, tf.float32), [num_samples, batch]) + ratio
  log_pz = prior_log_prob(model, flat_z, prior)
  log_joint = tf.reshape(tf.cast(log_px, tf.float32) + tf.cast(log_pz, tf.float32),
                         [num_samples, batch])
  return log_joint - tf.cast(log_q, tf.float32)


class ImportanceSampler:
  """K-sample importance-sampled NLL of batches, compiled once per model.

  Args:
    model: a `LatentVariableModel`.
    num_samples: K.
    chunk_size: samples per compiled call (K is split into ceil(K / chunk) calls).
    prior: 'model' or 'aux'.
    compile: wrap the per-chunk computation in `tf.function`.
  """

  def __init__(self, model, num_samples, chunk_size=16, prior='model', compile=True):
    if num_samples < 1:
      raise UserError(f'num_samples must be >= 1, got {num_samples}.')
    if not model.has_latents:
      raise UserError(f'{model.display_name} has no latents: its -ELBO is already '
                      'the exact NLL.')
    model.check_prior(prior)
    self.model, self.num_samples, self.prior = model, int(num_samples), prior
    self.chunk_size = max(1, min(int(chunk_size), self.num_samples))
    fn = lambda features, seed, k: log_weights(model, features, k, seed, prior)
    self._chunk = tf.function(fn, reduce_retracing=True) if compile else fn

  def __call__(self, features, seed):
    """Per-example `{'nll': [B], 'nelbo': [B]}` nats (NumPy float64).

    'nll' is −log (1/K) Σ exp(w_k); 'nelbo' is the Monte Carlo −ELBO −mean_k w_k of the
    same samples, so nll <= nelbo holds for every example.
    """
    seed = tf.convert_to_tensor(seed, tf.int32)
    chunks, done, index = [], 0, 0
    while done < self.num_samples:
      k = min(self.chunk_size, self.num_samples - done)
      chunk_seed = tf.random.experimental.stateless_fold_in(seed, index)
      chunks.append(np.asarray(self._chunk(features, chunk_seed, k), np.float64))
      done, index = done + k, index + 1
    w = np.concatenate(chunks, axis=0)                            # [K, B]
    top = w.max(axis=0)
    log_mean = top + np.log(np.mean(np.exp(w - top), axis=0))
    return {'nll': -log_mean, 'nelbo': -w.mean(axis=0)}


def importance_sampled_nll(model, features, num_samples, seed=(0, 0), chunk_size=16,
                           prior='model', compile=False):
  """Per-example importance-sampled NLL `[B]` nats of one batch (see module doc)."""
  sampler = ImportanceSampler(model, num_samples, chunk_size, prior, compile)
  return sampler(features, seed)['nll']


def evaluate_split(model, problem, split, batch_size, num_samples, seed=0,
                   chunk_size=16, prior='model', max_examples=None):
  """Importance-sampled NLL over a split (or its first `max_examples` examples).

  Returns a dict of totals in nats: 'count', 'units', 'nll' (Σ per-example NLL) and
  'nelbo' (Σ Monte Carlo −ELBO of the same samples), plus 'per_example_nll' and
  'per_example_nelbo' NumPy arrays.
  """
  sampler = ImportanceSampler(model, num_samples, chunk_size, prior)
  dataset = inputs.eval_dataset(problem, split, batch_size)
  if max_examples:
    dataset = dataset.take(int(math.ceil(max_examples / batch_size)))
  nll, nelbo, units = [], [], []
  base_seed = tf.constant([int(seed), 7], tf.int32)
  for index, features in enumerate(dataset):
    weight = features.pop('weight').numpy() > 0
    batch_seed = tf.random.experimental.stateless_fold_in(base_seed, index)
    result = sampler(features, batch_seed)
    nll.append(result['nll'][weight])
    nelbo.append(result['nelbo'][weight])
    units.append(np.asarray(problem.units_per_example(features))[weight])
  nll, nelbo, units = (np.concatenate(x) if x else np.zeros([0])
                       for x in (nll, nelbo, units))
  if max_examples:
    nll, nelbo, units = nll[:max_examples], nelbo[:max_examples], units[:max_examples]
  return {'count': float(len(nll)), 'units': float(units.sum()),
          'nll': float(nll.sum()), 'nelbo': float(nelbo.sum()),
          'per_example_nll': nll, 'per_example_nelbo': nelbo}
