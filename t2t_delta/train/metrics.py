"""Reported metrics: nats per example -> the problem's unit, and `metrics.jsonl`.

All conversions from nats happen here (`in_unit`, `bits_per_example`). For a split,
every term is the ratio of sums over the whole split: Σ nats / Σ units (dimensions for
images, tokens for text), then divided by ln 2 for bits. So −ELBO = distortion + rate
holds exactly in every unit.

Reported keys (values in `unit` unless the key says otherwise):
  nelbo, rate, distortion          −ELBO = D + R under the model's prior
  committed_rate                   δ, for models that have one
  nelbo_aux, rate_aux              the same under the auxiliary prior, when present
  rate_bits_per_example, distortion_bits_per_example, nelbo_bits_per_example
                                   bits per image / sentence (the paper's RD plots)
"""

import math

import numpy as np
import tensorflow as tf


def batch_sums(problem, features, out):
  """Per-batch sums (weighted by features['weight'] if present) of every term, in nats.

  Returns a dict of scalars: 'count', 'units', 'distortion', 'rate' and each extra.
  """
  weight = _weights(features, tf.shape(out['distortion'])[0])
  units = tf.cast(problem.units_per_example(features), tf.float32)
  sums = {'count': tf.reduce_sum(weight), 'units': tf.reduce_sum(weight * units)}
  terms = {'distortion': out['distortion'], 'rate': out['rate']}
  terms.update(out.get('extras', {}))
  for key, value in terms.items():
    sums[key] = tf.reduce_sum(weight * tf.cast(value, tf.float32))
  return sums


def group_sums(features, out):
  """{'rate_per_group': [G] weighted sum over the batch of the rate of each latent group
  (dimension), nats} for models that report `rate_per_group`, else {}."""
  if 'rate_per_group' not in out:
    return {}
  per_group = tf.cast(out['rate_per_group'], tf.float32)
  per_group = tf.reshape(per_group, [tf.shape(per_group)[0], -1])
  weight = _weights(features, tf.shape(per_group)[0])
  return {'rate_per_group': tf.reduce_sum(weight[:, None] * per_group, axis=0)}


def _weights(features, batch):
  """float32 [B]: features['weight'] (padding of the last eval batch), or ones."""
  weight = features.get('weight')
  return tf.ones([batch], tf.float32) if weight is None else tf.cast(weight, tf.float32)


def in_unit(problem, nats, units):
  """Σ nats over Σ units (dimensions, tokens) in the problem's unit (bits/dim, ...)."""
  return problem.nats_to_unit(float(nats), float(units))


def nats_to_bits(nats):
  """Nats (a float or an array) in bits."""
  return nats / math.log(2.0)


def bits_per_example(nats, count):
  """Σ nats over Σ examples in bits per example."""
  return nats_to_bits(float(nats) / max(float(count), 1e-12))


def summarize(problem, sums, step, split):
  """Totals over a split (dict of floats, in nats) -> a metrics.jsonl record."""
  to_unit = lambda nats: in_unit(problem, nats, sums['units'])
  record = {'step': int(step), 'split': split, 'unit': problem.unit,
            'num_examples': int(round(float(sums['count'])))}
  distortion, rate = float(sums['distortion']), float(sums['rate'])
  record['nelbo'] = to_unit(distortion + rate)
  record['rate'] = to_unit(rate)
  record['distortion'] = to_unit(distortion)
  for key in sorted(sums):
    if key in ('count', 'units', 'distortion', 'rate'):
      continue
    record[key] = to_unit(sums[key])
  if 'rate_aux' in sums:
    record['nelbo_aux'] = to_unit(distortion + float(sums['rate_aux']))
  bits = lambda nats: bits_per_example(nats, sums['count'])
  record['rate_bits_per_example'] = bits(rate)
  record['distortion_bits_per_example'] = bits(distortion)
  record['nelbo_bits_per_example'] = bits(distortion + rate)
  return record


def split_record(problem, totals, step, split, committed_rate=None):
  """`summarize`, plus `committed_rate`: δ (nats per example, for models that have one;
  else None) in the problem's unit, unless the totals carry their own."""
  record = summarize(problem, totals, step, split)
  if committed_rate is not None and 'committed_rate' not in record:
    record['committed_rate'] = in_unit(problem, committed_rate * totals['count'],
                                       totals['units'])
  return record


def to_numpy(sums):
  return {k: float(np.asarray(v)) for k, v in sums.items()}


def add(totals, sums):
  for key, value in sums.items():
    totals[key] = totals.get(key, 0.0) + float(value)
  return totals


def format_terms(record):
  """'-ELBO 5.123456 bits/dim  rate 0.006612  distortion 5.116844' of a record."""
  return (f"-ELBO {record['nelbo']:.6f} {record['unit']}  rate {record['rate']:.6f}  "
          f"distortion {record['distortion']:.6f}")


def format_record(record):
  """One human-readable line."""
  parts = [f"[{record['split']} @ step {record['step']}]", format_terms(record)]
  if 'committed_rate' in record:
    parts.append(f"committed {record['committed_rate']:.4f}")
  if 'nelbo_aux' in record:
    parts.append(f"-ELBO(aux prior) {record['nelbo_aux']:.4f}")
  parts.append(f"(rate {record['rate_bits_per_example']:.2f} bits/example)")
  if 'mi_bits' in record:
    parts.append(f"MI {record['mi_bits']:.2f} bits")
  if 'swap_gain_bits' in record:
    parts.append(f"decoder's gain from z {record['swap_gain_bits']:.2f} bits")
  return '  '.join(parts)
