"""Information diagnostics: what the latents carry and what the decoder uses of them.

A δ-VAE's rate KL(q(z|x) || p(z)) ≥ δ holds by construction: a posterior that ignores
x attains it. So the rate is never evidence that the latents are used; these are.
All values are in bits per example, over the N evaluated examples of a split:

  mi_bits               I_q(x; z) = E_x E_q(z|x)[log q(z|x) - log q(z)], with the
                        aggregate posterior q(z) = (1/N) Σ_j q(z|x_j) over the evaluated
                        examples (Hoffman & Johnson 2016; the minibatch estimator of He
                        et al. 2019, one z per example). Never above log2 N
                        (`mi_max_bits`). 0 for a posterior that ignores x. For
                        sequence latents (text) it is I(x; z | L) given the length L:
                        the aggregate posterior is taken over the examples of the
                        same length, because where a sentence's latents end (the
                        prior's continuation begins) tells its length whatever the
                        encoder does, and no decoder position can read it.
  swap_gain_bits        E[-log p(x|z')] - E[-log p(x|z)], z ~ q(z|x) and z' ~ q(z|x') for
                        K other examples x' of the split: what the decoder gains from
                        its own latent. 0 in expectation when the decoder ignores z.
  contrastive_bits      E[log p(x|z) - log (1/(K+1)) Σ_k p(x|z_k)] over x's own and the K
                        other latents: InfoNCE with the decoder as critic, a lower bound
                        on I(x; z) that is at most log2(K+1) (`contrastive_max_bits`) and
                        exactly 0 when the decoder ignores z.
  *_mean_bits           the same two with posterior means instead of samples (means can
                        lie off the decoder's training distribution: it is trained on
                        samples).
  *_stderr_bits         standard errors of those means over the examples.
  active_units          latent units u with Var_x E_q[z_u] > 0.01 (Burda et al. 2016), of
                        `latent_units`; `active_units_by_dim` counts them per latent
                        dimension (over rows or steps for sequential latents).
  kl_per_dim_bits       the rate per latent dimension (the model's `rate_per_group`).
  rate_excess_bits      rate minus the committed rate δ (models that commit one).
  rate_aux_bits         the rate under the auxiliary prior (models that have one).

Text latents are compared over the whole window: `PrefixPosterior` continues a
sentence's posterior by the prior after its last real step, so z of a short sentence
is a valid latent for a long one and q(z|x) is defined for every pair.

One pass over a split (`encode_split`) gathers the posterior parameters, one posterior
sample and the mean per example, the labels and the per-example ELBO terms; the
decoder pass (`decoder_log_likelihoods`) evaluates log p(x_i | z_(i+s) mod N) for the
shifts s = 0..K in batched calls.
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from t2t_delta import distributions
from t2t_delta.errors import UserError
from t2t_delta.train import eval_loop
from t2t_delta.train import inputs
from t2t_delta.train import metrics

tfd = tfp.distributions

ACTIVE_UNIT_THRESHOLD = 0.01


# ---- one pass over a split ------------------------------------------------------------
@dataclasses.dataclass
class SplitEncoding:
  """What one pass over the first N examples of a split gathers (NumPy).

  Attributes:
    split: the split's name.
    sums: ELBO totals in nats (`metrics.batch_sums` summed), or None.
    rate_per_group: `[N, G]` nats (the model's per-dimension rate), or None.
    labels: `{key: [N]}` ground-truth labels of the problem.
    samples: `[N, ...]` one posterior sample z ~ q(z|x) per example.
    means: `[N, ...]` posterior means.
    gaussian: `{'loc', 'scale', 'mask', 'continuation'}` each `[N, E]` (float64) when
      q(z|x) is Gaussian over the E latent units (or a `PrefixPosterior`), else None.
    lengths: `[N]` real steps of each example's latent sequence (a `PrefixPosterior`),
      or None.
  """
  split: str
  sums: dict
  rate_per_group: np.ndarray
  labels: dict
  samples: np.ndarray
  means: np.ndarray
  gaussian: dict
  lengths: np.ndarray = None

  @property
  def num_examples(self):
    return len(self.samples)

  def head(self, n=None):
    """The first `n` examples (all when n is None); `sums` stay the whole pass's."""
    if not n or n >= self.num_examples:
      return self
    cut = lambda x: None if x is None else x[:n]
    return dataclasses.replace(
        self, rate_per_group=cut(self.rate_per_group),
        labels={k: v[:n] for k, v in self.labels.items()}, samples=self.samples[:n],
        means=self.means[:n],
        gaussian=None if self.gaussian is None else {
            k: v[:n] for k, v in self.gaussian.items()},
        lengths=None if self.lengths is None else self.lengths[:n])


def capped_dataset(problem, split, batch_size, max_examples=None):
  """Evaluation batches of the first `max_examples` examples (weights 0 beyond)."""
  dataset = inputs.eval_dataset(problem, split, batch_size)
  if not max_examples:
    return dataset
  dataset = dataset.take(int(math.ceil(max_examples / batch_size)))
  index = tf.data.Dataset.range(0, 1 << 62, batch_size)

  def cap(start, features):
    position = start + tf.range(batch_size, dtype=tf.int64)
    keep = tf.cast(position < max_examples, tf.float32)
    return dict(features, weight=features['weight'] * keep)

  return tf.data.Dataset.zip((index, dataset)).map(cap)


def _gaussian_parameters(posterior, z):
  """`{'loc', 'scale', 'mask', 'continuation'}` each `[B, E]`, or None.

  For a factorised Normal q, log q(z | x) = Σ_u logN(z_u; loc_u, scale_u); for a
  `PrefixPosterior` the units after a sentence's end contribute the prior's
  conditional log-density of z instead (`mask` 0, `continuation` that density at the
  example's own sample; it is a function of z alone).
  """
  if isinstance(posterior, distributions.PrefixPosterior):
    loc, scale = posterior.loc, posterior.scale
    mask = tf.broadcast_to(posterior.mask[..., tf.newaxis], tf.shape(loc))
    continuation = posterior.continuation_log_prob(z)
  elif (isinstance(posterior, tfd.Independent)
        and isinstance(posterior.distribution, tfd.Normal)):
    normal = posterior.distribution
    loc = tf.broadcast_to(normal.loc, tf.shape(z))
    scale = tf.broadcast_to(normal.scale, tf.shape(z))
    mask, continuation = tf.ones_like(loc), tf.zeros_like(loc)
  else:
    return None
  flat = lambda x: tf.reshape(tf.cast(x, tf.float32), [tf.shape(z)[0], -1])
  return {'loc': flat(loc), 'scale': flat(scale), 'mask': flat(mask),
          'continuation': flat(continuation)}


def _batch_seeds(seed, index):
  base = tf.random.experimental.stateless_fold_in(tf.constant([int(seed), 11], tf.int32),
                                                  index)
  return tf.unstack(tf.random.experimental.stateless_split(base, 2))


def encode_split(model, problem, split, batch_size, max_examples=None, seed=0,
                 elbo=True):
  """One pass over a split: see `SplitEncoding`.

  Args:
    model: a `LatentVariableModel`.
    problem: its problem.
    split: 'train', 'eval' or 'test'.
    batch_size: examples per compiled call.
    max_examples: the first N examples only (default: the whole split).
    seed: seed of the posterior samples (per batch, folded with the batch index).
    elbo: also sum the ELBO terms exactly as the trainer's evaluation does.
  """

  def step(features, index):
    encoder_seed, sample_seed = _batch_seeds(seed, index)
    out = {}
    if elbo:
      terms = eval_loop.eval_terms(model, features)
      out['sums'] = metrics.batch_sums(problem, features, terms)
      if 'rate_per_group' in terms:
        out['rate_per_group'] = tf.cast(terms['rate_per_group'], tf.float32)
    posterior = model.encode(features, training=False, seed=encoder_seed)
    z = posterior.sample(seed=sample_seed)
    out['samples'] = tf.cast(z, tf.float32)
    out['means'] = tf.cast(model.posterior_mean(features), tf.float32)
    gaussian = _gaussian_parameters(posterior, z)
    if gaussian is not None:
      out['gaussian'] = gaussian
    if isinstance(posterior, distributions.PrefixPosterior):
      out['lengths'] = tf.reduce_sum(posterior.mask, axis=-1)
    return out

  step = tf.function(step, reduce_retracing=True)
  totals, rows, labels = {}, {}, {key: [] for key in problem.label_keys}
  for index, features in enumerate(capped_dataset(problem, split, batch_size,
                                                  max_examples)):
    keep = features['weight'].numpy() > 0
    out = step(features, tf.constant(index, tf.int32))
    if 'sums' in out:
      metrics.add(totals, metrics.to_numpy(out.pop('sums')))
    gaussian = out.pop('gaussian', {})
    out.update({f'gaussian/{key}': value for key, value in gaussian.items()})
    for key, value in out.items():
      rows.setdefault(key, []).append(np.asarray(value)[keep])
    for key in labels:
      labels[key].append(np.asarray(features[key])[keep])
  if not rows:
    raise UserError(f'the {split} split of {problem.registered_name} is empty.')
  rows = {key: np.concatenate(value) for key, value in rows.items()}
  gaussian = None
  if 'gaussian/loc' in rows:
    gaussian = {key: rows[f'gaussian/{key}'].astype(np.float64)
                for key in ('loc', 'scale', 'mask', 'continuation')}
  return SplitEncoding(
      split=split, sums=totals if elbo else None,
      rate_per_group=rows.get('rate_per_group'),
      labels={key: np.concatenate(value) for key, value in labels.items() if value},
      samples=rows['samples'], means=rows['means'], gaussian=gaussian,
      lengths=(np.round(rows['lengths']).astype(np.int64) if 'lengths' in rows
               else None))


# ---- mutual information ---------------------------------------------------------------
def gaussian_log_q_block(gaussian, z, z_continuation, columns):
  """log q(z_i | x_j) `[N_z, len(columns)]` (float64) for factorised Gaussians.

  Σ_u m_ju logN(z_iu; loc_ju, scale_ju) + Σ_u (1 - m_ju) c_iu, expanded into matrix
  products over the E units so that no `[N_z, N, E]` array is formed.

  Args:
    gaussian: `SplitEncoding.gaussian` (`[N, E]` arrays).
    z: `[N_z, E]` latents.
    z_continuation: `[N_z, E]` c_iu, the prior's conditional log-density of z_i at
      each unit (zeros where every mask is 1).
    columns: slice of the examples j whose posteriors evaluate z.
  """
  loc, scale = gaussian['loc'][columns], gaussian['scale'][columns]
  mask = gaussian['mask'][columns]
  precision = mask / np.square(scale)                                  # [N_j, E]
  constant = (np.sum(mask * (-np.log(scale) - 0.5 * math.log(2 * math.pi)), axis=1)
              - 0.5 * np.sum(precision * np.square(loc), axis=1))
  z = np.asarray(z, np.float64)
  block = -0.5 * np.square(z) @ precision.T + z @ (precision * loc).T + constant
  # Units after an example's end are scored by the prior's conditional instead.
  c = np.asarray(z_continuation, np.float64)
  return block + c.sum(axis=1, keepdims=True) - c @ mask.T


def _generic_log_q_blocks(model, problem, split, batch_size, max_examples, z):
  """Yields (first column, log q(z_i | x_j) `[N, B]`) by encoding the batches again.

  For posteriors without a closed Gaussian form (e.g. an IAF): the distribution of a
  batch evaluates every z at once through TFP's sample-axis broadcasting.
  """
  z_all = tf.constant(z[:, tf.newaxis], tf.float32)                   # [N, 1, ...]

  @tf.function(reduce_retracing=True)
  def block(features):
    posterior = model.encode(features, training=False, seed=tf.constant([0, 0]))
    return posterior.log_prob(z_all)

  start = 0
  for features in capped_dataset(problem, split, batch_size, max_examples):
    keep = features['weight'].numpy() > 0
    values = np.asarray(block(features), np.float64)[:, keep]
    yield start, values
    start += values.shape[1]


def mutual_information(encoding, model=None, problem=None, batch_size=None,
                       max_examples=None, chunk=4096):
  """`{'mi_bits', 'mi_max_bits', 'mi_examples'}` of the split's posterior samples.

  I = (1/N) Σ_i [log q(z_i|x_i) - log (1/N_i) Σ_j q(z_i|x_j)], z_i ~ q(z|x_i), with j
  over all N examples, or over the N_i examples of the same length for sequence
  latents (`encoding.lengths`; then I is I(x; z | L)). The own term is part of the
  average, so the estimate never exceeds the mean of log N_i (`mi_max_bits`).
  Without a Gaussian form the posteriors are rebuilt by encoding the split again
  (`model`, `problem`, `batch_size` and `max_examples` are then required).
  """
  z = encoding.samples.reshape(encoding.num_examples, -1).astype(np.float64)
  n = len(z)
  groups = encoding.lengths if encoding.lengths is not None else np.zeros([n], np.int64)
  running = np.full([n], -np.inf)
  own = np.zeros([n])

  def absorb(start, block):
    nonlocal running
    columns = np.arange(start, start + block.shape[1])
    same = groups[:, None] == groups[None, columns]
    running = np.logaddexp(running, _logsumexp(np.where(same, block, -np.inf), axis=1))
    own[columns] = block[columns, columns - start]

  if encoding.gaussian is not None:
    gaussian = encoding.gaussian
    for start in range(0, n, chunk):
      absorb(start, gaussian_log_q_block(gaussian, z, gaussian['continuation'],
                                         slice(start, start + chunk)))
  else:
    for start, block in _generic_log_q_blocks(model, problem, encoding.split,
                                              batch_size, max_examples,
                                              encoding.samples):
      absorb(start, block)
  _, index, counts = np.unique(groups, return_inverse=True, return_counts=True)
  log_group_size = np.log(counts[index].astype(np.float64))
  per_example = own - (running - log_group_size)
  return {'mi_bits': float(metrics.nats_to_bits(per_example.mean())),
          'mi_max_bits': float(metrics.nats_to_bits(log_group_size.mean())),
          'mi_examples': n}


def _logsumexp(x, axis):
  top = np.max(x, axis=axis, keepdims=True)
  top = np.where(np.isfinite(top), top, 0.0)
  with np.errstate(divide='ignore'):   # a row of -inf (no example of its group) -> -inf
    return np.squeeze(top, axis) + np.log(np.sum(np.exp(x - top), axis=axis))


# ---- what the decoder uses ------------------------------------------------------------
def decoder_log_likelihoods(model, problem, split, batch_size, latents, num_negatives,
                            max_examples=None, calls_per_batch=None):
  """log p(x_i | latents[(i + s) mod N]) `[K + 1, N]` nats for shifts s = 0..K.

  Row 0 pairs every example with its own latent; rows 1..K with the latents of K
  other examples of the split (K = `num_negatives` < N).

  Args:
    latents: `[N, ...]` one latent per example (e.g. `SplitEncoding.samples`).
    calls_per_batch: split the K + 1 shifts of a batch into this many compiled calls
      (default: as few as keep each call at <= 1024 decoder evaluations).
  """
  n = len(latents)
  shifts = np.arange(int(num_negatives) + 1)
  if num_negatives >= n:
    raise ValueError(f'{num_negatives} negatives need more than {num_negatives} '
                     f'examples; the split has {n}.')
  per_call = max(1, 1024 // batch_size) if not calls_per_batch else int(
      math.ceil(len(shifts) / calls_per_batch))

  @tf.function(reduce_retracing=True)
  def log_likelihood(features, z):
    times = tf.shape(z)[0] // tf.shape(features['weight'])[0]
    tiled = {key: tf.tile(value, tf.concat([[times], tf.ones([tf.rank(value) - 1],
                                                             tf.int32)], 0))
             for key, value in features.items()}
    return model.log_likelihood(tiled, z, training=False)

  out = np.zeros([len(shifts), n])
  start = 0
  for features in capped_dataset(problem, split, batch_size, max_examples):
    keep = features['weight'].numpy() > 0
    rows = np.arange(start, start + len(keep))
    for first in range(0, len(shifts), per_call):
      group = shifts[first:first + per_call]
      index = (rows[None, :] + group[:, None]) % n                    # [S, B]
      z = tf.constant(latents[index.reshape(-1)], tf.float32)
      values = np.asarray(log_likelihood(features, z), np.float64)
      out[first:first + len(group), rows[keep]] = values.reshape(len(group), -1)[:, keep]
    start += int(keep.sum())
  return out


def decoder_gain(log_likelihoods, suffix=''):
  """Swap gain and contrastive bound (bits per example) from `[K + 1, N]` nats."""
  own, others = log_likelihoods[0], log_likelihoods[1:]
  k = len(others)
  swap = metrics.nats_to_bits(own - others.mean(axis=0))
  contrastive = metrics.nats_to_bits(
      own - (_logsumexp(log_likelihoods, axis=0) - math.log(k + 1)))
  stderr = lambda x: float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else 0.0
  return {f'swap_gain{suffix}_bits': float(swap.mean()),
          f'swap_gain{suffix}_stderr_bits': stderr(swap),
          f'contrastive{suffix}_bits': float(contrastive.mean()),
          f'contrastive{suffix}_stderr_bits': stderr(contrastive),
          'contrastive_max_bits': math.log2(k + 1), 'contrastive_negatives': k}


# ---- latent units and rates -------------------------------------------------------------
def active_units(means, threshold=ACTIVE_UNIT_THRESHOLD):
  """`{'active_units', 'latent_units', 'active_units_by_dim'}` from means `[N, ..., d]`."""
  variance = np.var(np.asarray(means, np.float64), axis=0)          # [..., d]
  active = variance > threshold
  by_dim = active.reshape(-1, active.shape[-1]).sum(axis=0)
  return {'active_units': int(active.sum()), 'latent_units': int(active.size),
          'active_units_by_dim': [int(v) for v in by_dim]}


def rate_terms(encoding, committed_rate_nats=None):
  """KL per dimension, rate excess over δ and the rate under the aux prior (bits)."""
  out = {}
  if encoding.rate_per_group is not None:
    out['kl_per_dim_bits'] = [float(v) for v in
                              metrics.nats_to_bits(encoding.rate_per_group.mean(axis=0))]
  sums = encoding.sums
  if sums:
    count = sums['count']
    rate = metrics.bits_per_example(sums['rate'], count)
    if 'committed_rate' in sums:
      out['rate_excess_bits'] = rate - metrics.bits_per_example(sums['committed_rate'],
                                                                count)
    elif committed_rate_nats is not None:
      out['rate_excess_bits'] = rate - metrics.nats_to_bits(committed_rate_nats)
    if 'rate_aux' in sums:
      out['rate_aux_bits'] = metrics.bits_per_example(sums['rate_aux'], count)
  return out


def information_record(model, problem, encoding, batch_size, num_negatives=63,
                       means=True, max_examples=None):
  """Every diagnostic of the module docstring for one `SplitEncoding`."""
  record = mutual_information(encoding, model, problem, batch_size, max_examples)
  negatives = min(int(num_negatives), encoding.num_examples - 1)
  if negatives >= 1:
    record.update(decoder_gain(decoder_log_likelihoods(
        model, problem, encoding.split, batch_size, encoding.samples, negatives,
        max_examples)))
    if means:
      record.update(decoder_gain(decoder_log_likelihoods(
          model, problem, encoding.split, batch_size, encoding.means, negatives,
          max_examples), suffix='_mean'))
  record.update(active_units(encoding.means))
  record.update(rate_terms(encoding, model.committed_rate()))
  return record


def quick_information(model, problem, split, batch_size, max_examples=256,
                      num_negatives=3, seed=0):
  """A cheap subset for evaluations during training: MI and the swap gain/bound.

  Costs one encoder pass and `num_negatives + 1` decoder passes over `max_examples`
  examples of the split.
  """
  encoding = encode_split(model, problem, split, batch_size, max_examples, seed,
                          elbo=False)
  record = mutual_information(encoding, model, problem, batch_size, max_examples)
  negatives = min(int(num_negatives), encoding.num_examples - 1)
  if negatives >= 1:
    gain = decoder_gain(decoder_log_likelihoods(
        model, problem, split, batch_size, encoding.samples, negatives, max_examples))
    record.update({key: value for key, value in gain.items()
                   if not key.startswith('contrastive')})
  record.update(active_units(encoding.means))
  return record
