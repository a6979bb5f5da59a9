"""Evaluation of a trained run: −ELBO/rate/distortion, IS-NLL, linear probes, t-SNE.

`Evaluator` restores a run's latest checkpoint once and produces one metrics record per
split, the trainer's record extended with

  nll_is, nll_is_bits_per_example   importance-sampled NLL (K samples from q), unit
  nelbo_is                          Monte Carlo −ELBO of the same samples (>= nll_is)
  nll_is_samples                    K
  probe_<label>_accuracy            linear probe (fitted on train posterior means)
  probe_<label>_majority            majority-class baseline
  tsne_png                          the t-SNE picture of this split, when drawn
  evaluator                         't2t-delta-eval' (so reports can tell these apart)

all in the problem's unit (`problem.nats_to_unit`), appended to the run's metrics.jsonl.
"""

import math
import os

import tensorflow as tf

from t2t_delta.errors import UserError
from t2t_delta.evaluate import nll as nll_lib
from t2t_delta.evaluate import probe as probe_lib
from t2t_delta.train import config as config_lib
from t2t_delta.train import inputs
from t2t_delta.train import metrics
from t2t_delta.train import run_dir
# Importing the trainer registers the `train.` and `adam.` gin names of config.gin.
from t2t_delta.train import trainer as _trainer  # noqa: F401

EVALUATOR = 't2t-delta-eval'


def _capped(dataset, batch_size, max_examples):
  """Batches covering the first `max_examples` examples (weights zeroed beyond)."""
  dataset = dataset.take(int(math.ceil(max_examples / batch_size)))
  index = tf.data.Dataset.range(0, 1 << 62, batch_size)

  def cap(start, features):
    position = start + tf.range(batch_size, dtype=tf.int64)
    keep = tf.cast(position < max_examples, tf.float32)
    return dict(features, weight=features['weight'] * keep)

  return tf.data.Dataset.zip((index, dataset)).map(cap)


class Evaluator:
  """Evaluates one run directory (the model is built and restored once).

  Args:
    output_dir: the run directory.
    gin_params: extra gin bindings applied after the run's config.gin.
    batch_size: evaluation batch (default: the run's eval batch size).
    strategy: distribution strategy name for the ELBO pass (default 'cpu').
  """

  def __init__(self, output_dir, gin_params=(), batch_size=None, strategy='cpu'):
    self.setup = config_lib.RunSetup.from_run_dir(output_dir, gin_params,
                                                  strategy=strategy)
    self.output_dir = output_dir
    self.trainer = self.setup.trainer()
    if not self.trainer.restore():
      raise UserError(f'no checkpoint in {run_dir.checkpoint_dir(output_dir)}; train '
                      'first (same --output_dir) or point --output_dir at a run.')
    self.problem, self.model = self.trainer.problem, self.trainer.model
    self.batch_size = int(batch_size or self.trainer.eval_batch_size)
    self.step = self.trainer.step
    self._eval_fn = None

  # ---- −ELBO, rate, distortion ------------------------------------------------------
  def elbo_record(self, split, max_examples=None):
    """The trainer's whole-split record, or the same over the first `max_examples`."""
    if not max_examples:
      return self.trainer.evaluate(split)
    if self._eval_fn is None:
      def eval_fn(features):
        out = self.model(features, training=False, seed=tf.constant([0, 0], tf.int32))
        return metrics.batch_sums(self.problem, features, out)
      self._eval_fn = tf.function(eval_fn)
    totals = {}
    dataset = _capped(inputs.eval_dataset(self.problem, split, self.batch_size),
                      self.batch_size, max_examples)
    for features in dataset:
      metrics.add(totals, metrics.to_numpy(self._eval_fn(features)))
    if not totals:
      raise UserError(f'the {split} split of {self.problem.registered_name} is empty.')
    record = metrics.summarize(self.problem, totals, self.step, split)
    committed = self.model.committed_rate()
    if committed is not None and 'committed_rate' not in record:
      record['committed_rate'] = self.problem.nats_to_unit(
          committed * totals['count'], totals['units'])
    record['max_examples'] = int(max_examples)
    return record

  # ---- importance-sampled NLL -------------------------------------------------------
  def nll_terms(self, split, num_samples, seed=0, chunk_size=16, prior='model',
                max_examples=None):
    """`{'nll_is', 'nelbo_is', 'nll_is_bits_per_example', 'nll_is_samples'}`."""
    totals = nll_lib.evaluate_split(self.model, self.problem, split, self.batch_size,
                                    num_samples, seed=seed, chunk_size=chunk_size,
                                    prior=prior, max_examples=max_examples)
    suffix = '' if prior == 'model' else f'_{prior}'
    count = max(totals['count'], 1e-12)
    return {
        f'nll_is{suffix}': self.problem.nats_to_unit(totals['nll'], totals['units']),
        f'nelbo_is{suffix}': self.problem.nats_to_unit(totals['nelbo'], totals['units']),
        f'nll_is{suffix}_bits_per_example': totals['nll'] / count / math.log(2.0),
        'nll_is_samples': int(num_samples),
    }

  # ---- representations --------------------------------------------------------------
  def posterior_means(self, split, max_examples=None):
    return probe_lib.posterior_means(self.model, self.problem, split, self.batch_size,
                                     max_examples)

  def evaluate(self, splits, nll_samples=128, probe=True, tsne=False, seed=0,
               chunk_size=16, aux_prior=False, max_examples=None, probe_examples=None,
               write=True, log=print):
    """Evaluate `splits`; returns the records (appended to metrics.jsonl if `write`)."""
    has_latents = getattr(self.model, 'has_latents', False)
    label_keys = tuple(self.problem.label_keys)
    probe = probe and has_latents and bool(label_keys)
    train_means = train_labels = None
    if probe:
      train_means, train_labels = self.posterior_means(
          'train', probe_examples or max_examples)
    records = []
    for split in splits:
      record = self.elbo_record(split, max_examples)
      if nll_samples and has_latents:
        record.update(self.nll_terms(split, nll_samples, seed, chunk_size,
                                     max_examples=max_examples))
        if aux_prior and hasattr(self.model, 'aux_prior'):
          record.update(self.nll_terms(split, nll_samples, seed, chunk_size, 'aux',
                                       max_examples=max_examples))
      elif nll_samples:
        # Without latents the −ELBO is the exact negative log-likelihood.
        record['nll_is'] = record['nelbo']
        record['nll_is_bits_per_example'] = record['nelbo_bits_per_example']
      if probe or (tsne and has_latents):
        means, labels = self.posterior_means(split, max_examples)
      if probe:
        for key, result in probe_lib.probe_all_labels(
            train_means, train_labels, means, labels, seed=seed).items():
          record[f'probe_{key}_accuracy'] = result['accuracy']
          record[f'probe_{key}_majority'] = result['majority']
        record['probe_train_examples'] = int(len(train_means))
      if tsne and has_latents:
        first = label_keys[0] if label_keys else None
        path = os.path.join(self.output_dir, f'tsne_{split}.png')
        probe_lib.tsne_png(means, labels.get(first) if first else None, path,
                           label_name=first or 'label', seed=seed,
                           title=f'{os.path.basename(os.path.normpath(self.output_dir))}'
                                 f' {split}: posterior means')
        record['tsne_png'] = path
      record['evaluator'] = EVALUATOR
      if write:
        run_dir.append_jsonl(os.path.join(self.output_dir, run_dir.METRICS_FILE), record)
      records.append(record)
    if log:
      log(format_table(records))
    return records


def format_table(records):
  """A plain-text table of evaluation records (one row per split)."""
  if not records:
    return ''
  unit = records[0].get('unit', '')
  columns = [('split', 'split', '{}'), ('step', 'step', '{}'),
             ('nelbo', f'-ELBO ({unit})', '{:.4f}'), ('rate', 'rate', '{:.4f}'),
             ('distortion', 'distortion', '{:.4f}'),
             ('nll_is', f'NLL-IS ({unit})', '{:.4f}'),
             ('nll_is_aux', 'NLL-IS aux', '{:.4f}'),
             ('rate_bits_per_example', 'rate (bits/ex)', '{:.2f}')]
  probe_keys = sorted({k for r in records for k in r
                       if k.startswith('probe_') and k.endswith('_accuracy')})
  columns += [(k, k[len('probe_'):-len('_accuracy')] + ' acc', '{:.3f}')
              for k in probe_keys]
  columns = [c for c in columns if any(c[0] in r for r in records)]
  rows = [[title for _, title, _ in columns]]
  for r in records:
    rows.append([fmt.format(r[key]) if key in r else '-' for key, _, fmt in columns])
  widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
  lines = ['  '.join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
  lines.insert(1, '  '.join('-' * w for w in widths))
  majority = {k: r[k.replace('_accuracy', '_majority')] for r in records[-1:]
              for k in probe_keys if k.replace('_accuracy', '_majority') in r}
  if majority:
    lines.append('majority baseline: ' + ', '.join(
        f'{k[len("probe_"):-len("_accuracy")]} {v:.3f}' for k, v in majority.items()))
  return '\n'.join(lines)
