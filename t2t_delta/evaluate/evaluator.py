"""Evaluation of a trained run: likelihood bounds, information diagnostics, probes.

`Evaluator` restores a run's latest checkpoint once, read-only (the run directory is
never modified except for the records appended to metrics.jsonl), and produces one
record per split: the trainer's −ELBO/rate/distortion record, extended with

  nll_is, nll_is_bits_per_example   importance-sampled NLL (K samples from q), unit
  nelbo_is                          Monte Carlo −ELBO of the same samples (>= nll_is)
  nll_is_samples                    K
  mi_bits, swap_gain_bits, ...      the information diagnostics (`information.py`)
  probe_<label>_accuracy            linear probe on posterior means (trained encoder)
  probe_<label>_accuracy_samples    ... on posterior samples (what the decoder reads)
  probe_<label>_accuracy_untrained, probe_<label>_accuracy_untrained_samples
                                    the same probes on the model at its initial weights
  probe_<label>_majority            majority-class baseline
  recon_<label>_agreement[_other_z], recon_<label>_classifier_accuracy
                                    decodings of an image's latent (of another image's)
                                    classified as the source's label; the classifier's
                                    accuracy on real images (`reconstruction.py`)
  tsne_png                          the t-SNE picture of this split, when drawn
  evaluator                         't2t-delta-eval' (so reports can tell these apart)

One encoder pass over each split gathers what the −ELBO, the information diagnostics
and the probes need; the decoder's swap gain and contrastive bound take K + 1 decoder
passes over the first `info_examples` examples, the NLL K more.
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from t2t_delta.errors import UserError
from t2t_delta.evaluate import information
from t2t_delta.evaluate import nll as nll_lib
from t2t_delta.evaluate import probe as probe_lib
from t2t_delta.evaluate import reconstruction
from t2t_delta.problems import base as problems_base
from t2t_delta.runtime import checkpoints, files, run_dir, run_setup
from t2t_delta.train import eval_loop, metrics
from t2t_delta.train import trainer as trainer_lib

EVALUATOR = 't2t-delta-eval'


@dataclasses.dataclass
class Options:
  """What `Evaluator.evaluate` measures (defaults of `t2t-delta-eval`).

  Attributes:
    nll_samples: K of the importance-sampled NLL (0: off).
    nll_chunk: samples per compiled NLL call.
    aux_prior: also the NLL under the auxiliary prior.
    max_examples: evaluate the first N examples of each split (None: all).
    information: the information diagnostics.
    info_negatives: K other examples' latents per example (swap gain, contrastive).
    info_examples: examples the information diagnostics use (None: as max_examples).
    info_means: also the decoder's gain from posterior means.
    probe: linear probes of every label.
    probe_examples: train examples the probes are fitted on (None: all).
    probe_method: 'sklearn' or 'paper' (see `probe.py`).
    untrained_baseline: also probe the model at its initial weights.
    recon_examples: image problems with labels: decode this many images of each split
      from their latents and classify the decodings (0: off; `reconstruction.py`).
    recon_train: train images the pixel classifiers of that check are fitted on.
    tsne: draw a t-SNE picture of each split's posterior means.
    tsne_dir: where the pictures go (default: the run directory).
    seed: posterior samples, importance samples and probes.
  """
  nll_samples: int = 128
  nll_chunk: int = 16
  aux_prior: bool = False
  max_examples: int = None
  information: bool = True
  info_negatives: int = 63
  info_examples: int = 1024
  info_means: bool = True
  probe: bool = True
  probe_examples: int = 10000
  probe_method: str = 'sklearn'
  untrained_baseline: bool = True
  recon_examples: int = 0
  recon_train: int = 4096
  tsne: bool = False
  tsne_dir: str = None
  seed: int = 0


class Evaluator:
  """Evaluates one run directory (the model is built and restored once, read-only).

  Args:
    output_dir: the run directory.
    gin_params: extra gin bindings applied after the run's config.gin.
    batch_size: evaluation batch (default: the run's eval batch size).
  """

  def __init__(self, output_dir, gin_params=(), batch_size=None):
    self.setup, self.model, checkpoint = run_setup.load_run(output_dir, gin_params)
    self.output_dir = output_dir
    self.problem = self.setup.problem
    self.step = checkpoints.checkpoint_step(checkpoint)
    config = trainer_lib.TrainConfig()
    self.batch_size = int(batch_size or config.eval_batch_size or config.batch_size)
    self._untrained = None
    self._latent_free_step = None

  @property
  def untrained_model(self):
    """The same model at its initial weights (same gin bindings and seed)."""
    if self._untrained is None:
      self._untrained = self.setup.model_cls(self.problem)
    return self._untrained

  # ---- the pieces -------------------------------------------------------------------
  def elbo_record(self, encoding):
    """The trainer's record (−ELBO, rate, distortion, ...) from an encoding's sums."""
    return metrics.split_record(self.problem, encoding.sums, self.step, encoding.split,
                                self.model.committed_rate())

  def nll_terms(self, split, options, prior='model'):
    """`{'nll_is', 'nelbo_is', 'nll_is_bits_per_example', 'nll_is_samples'}`."""
    totals = nll_lib.evaluate_split(self.model, self.problem, split, self.batch_size,
                                    options.nll_samples, seed=options.seed,
                                    chunk_size=options.nll_chunk, prior=prior,
                                    max_examples=options.max_examples)
    suffix = '' if prior == 'model' else f'_{prior}'
    return {
        f'nll_is{suffix}': metrics.in_unit(self.problem, totals['nll'], totals['units']),
        f'nelbo_is{suffix}': metrics.in_unit(self.problem, totals['nelbo'],
                                             totals['units']),
        f'nll_is{suffix}_bits_per_example': metrics.bits_per_example(totals['nll'],
                                                                     totals['count']),
        'nll_is_samples': int(options.nll_samples),
    }

  def encode(self, split, options, model=None, elbo=False, max_examples=None):
    return information.encode_split(model or self.model, self.problem, split,
                                    self.batch_size, max_examples, options.seed,
                                    elbo=elbo)

  def probe_records(self, train, encoding, options, untrained_train=None,
                    untrained_encoding=None):
    """Probe accuracies of every label on means and samples (trained / untrained)."""
    flat = lambda x: np.asarray(x, np.float64).reshape(len(x), -1)
    variants = [('', train.means, encoding.means),
                ('_samples', train.samples, encoding.samples)]
    if untrained_train is not None:
      variants += [('_untrained', untrained_train.means, untrained_encoding.means),
                   ('_untrained_samples', untrained_train.samples,
                    untrained_encoding.samples)]
    record = {}
    for suffix, train_x, test_x in variants:
      results = probe_lib.probe_all_labels(flat(train_x), train.labels, flat(test_x),
                                           encoding.labels, seed=options.seed,
                                           method=options.probe_method)
      for key, result in results.items():
        record[f'probe_{key}_accuracy{suffix}'] = result['accuracy']
        record[f'probe_{key}_majority'] = result['majority']
    record['probe_train_examples'] = int(len(train.means))
    record['probe_method'] = options.probe_method
    return record

  # ---- everything -------------------------------------------------------------------
  def evaluate(self, splits, options=None, write=True, log=print):
    """Evaluate `splits`; returns the records (appended to metrics.jsonl if `write`)."""
    options = options or Options()
    has_latents = self.model.has_latents
    probe = options.probe and has_latents and bool(self.problem.label_keys)
    train = untrained_train = None
    if probe:
      train = self.encode('train', options, max_examples=options.probe_examples)
      if options.untrained_baseline:
        untrained_train = self.encode('train', options, model=self.untrained_model,
                                      max_examples=options.probe_examples)
    classifiers = None
    if options.recon_examples and has_latents:
      if not (isinstance(self.problem, problems_base.ImageProblem)
              and self.problem.label_keys):
        raise UserError(f'--recon_examples needs an image problem with labels; '
                        f'{self.problem.registered_name} is not one (use 0).')
      classifiers = reconstruction.fit_classifiers(self.problem, options.recon_train,
                                                   options.seed)
    records = []
    for split in splits:
      if has_latents:
        encoding = self.encode(split, options, elbo=True,
                               max_examples=options.max_examples)
        record = self.elbo_record(encoding)
      else:
        record = self._latent_free_record(split, options)
      if options.max_examples:
        record['max_examples'] = int(options.max_examples)
      if options.nll_samples and has_latents:
        record.update(self.nll_terms(split, options))
        if options.aux_prior and self.model.aux_prior is not None:
          record.update(self.nll_terms(split, options, prior='aux'))
      elif options.nll_samples:
        # Without latents the −ELBO is the exact negative log-likelihood.
        record['nll_is'] = record['nelbo']
        record['nll_is_bits_per_example'] = record['nelbo_bits_per_example']
      if has_latents and options.information:
        limit = _smaller(options.info_examples, options.max_examples)
        record.update(information.information_record(
            self.model, self.problem, encoding.head(limit), self.batch_size,
            options.info_negatives, means=options.info_means, max_examples=limit))
      if probe:
        untrained = (self.encode(split, options, model=self.untrained_model,
                                 max_examples=options.max_examples)
                     if options.untrained_baseline else None)
        record.update(self.probe_records(train, encoding, options, untrained_train,
                                         untrained))
      if classifiers is not None:
        record.update(reconstruction.reconstruction_record(
            self.model, self.problem, split, classifiers,
            _smaller(options.recon_examples, options.max_examples), self.batch_size,
            options.seed))
      if options.tsne and has_latents:
        record['tsne_png'] = self._tsne(split, encoding, options)
      record['evaluator'] = EVALUATOR
      if write:
        files.append_jsonl(run_dir.metrics_path(self.output_dir), record)
      records.append(record)
    if log:
      log(format_table(records))
    return records

  def _latent_free_record(self, split, options):
    """−ELBO = NLL of a model without latents: the trainer's evaluation pass."""
    if self._latent_free_step is None:
      self._latent_free_step = tf.function(
          lambda features: eval_loop.batch_terms(self.model, self.problem, features))
    batches = information.capped_dataset(self.problem, split, self.batch_size,
                                         options.max_examples)
    totals, _ = eval_loop.split_totals(self._latent_free_step, batches, self.problem,
                                       split)
    return metrics.split_record(self.problem, totals, self.step, split,
                                self.model.committed_rate())

  def _tsne(self, split, encoding, options):
    first = self.problem.label_keys[0] if self.problem.label_keys else None
    directory = options.tsne_dir or self.output_dir
    path = os.path.join(directory, f'tsne_{split}.png')
    means = np.asarray(encoding.means).reshape(encoding.num_examples, -1)
    name = os.path.basename(os.path.normpath(self.output_dir))
    probe_lib.tsne_png(means, encoding.labels.get(first) if first else None, path,
                       label_name=first or 'label', seed=options.seed,
                       title=f'{name} {split}: posterior means')
    return path


def _smaller(a, b):
  """The smaller of two optional limits (None: no limit)."""
  limits = [x for x in (a, b) if x]
  return min(limits) if limits else None


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
  lines = _table(columns, records)
  majority = {k: r[k.replace('_accuracy', '_majority')] for r in records[-1:]
              for k in probe_keys if k.replace('_accuracy', '_majority') in r}
  if majority:
    lines.append('majority baseline: ' + ', '.join(
        f'{k[len("probe_"):-len("_accuracy")]} {v:.3f}' for k, v in majority.items()))
  if any('mi_bits' in r for r in records):
    lines += [''] + format_information(records)
  else:   # reconstruction agreement without the information diagnostics
    for r in records:
      recon = reconstruction.format_lines(r)
      lines += [f"[{r['split']}]"] + recon if recon else []
  return '\n'.join(lines)


def _table(columns, records):
  rows = [[title for _, title, _ in columns]]
  for r in records:
    rows.append([fmt.format(r[key]) if key in r else '-' for key, _, fmt in columns])
  widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
  lines = ['  '.join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
  lines.insert(1, '  '.join('-' * w for w in widths))
  return lines


def format_information(records):
  """Lines: the information diagnostics of each record, each with its baseline."""
  lines = ['information (bits per example; a model that ignores its latents scores '
           '0 on each; probes: trained / untrained encoder / majority)']
  for r in records:
    if 'mi_bits' not in r:
      continue
    parts = [f"[{r['split']}]",
             f"MI {r['mi_bits']:.2f} (max {r['mi_max_bits']:.1f}, N={r['mi_examples']})"]
    if 'swap_gain_bits' in r:
      parts.append(f"swap gain {r['swap_gain_bits']:.2f}±{r['swap_gain_stderr_bits']:.2f}")
      parts.append(f"contrastive {r['contrastive_bits']:.2f}"
                   f"±{r['contrastive_stderr_bits']:.2f} (max "
                   f"{r['contrastive_max_bits']:.1f}, K={r['contrastive_negatives']})")
    if 'swap_gain_mean_bits' in r:
      parts.append(f"with means: gain {r['swap_gain_mean_bits']:.2f}, contrastive "
                   f"{r['contrastive_mean_bits']:.2f}")
    parts.append(f"active units {r['active_units']}/{r['latent_units']}")
    if 'rate_excess_bits' in r:
      parts.append(f"rate - δ {r['rate_excess_bits']:.2f}")
    if 'rate_aux_bits' in r:
      parts.append(f"rate under aux prior {r['rate_aux_bits']:.2f}")
    lines.append('  '.join(parts))
    labels = sorted({k[len('probe_'):-len('_accuracy')] for k in r
                     if k.startswith('probe_') and k.endswith('_accuracy')})
    for label in labels:
      get = lambda suffix, label=label: r.get(f'probe_{label}_accuracy{suffix}')
      fmt = lambda v: '-' if v is None else f'{v:.3f}'
      lines.append(f'  probe {label}: means {fmt(get(""))} / {fmt(get("_untrained"))}'
                   f'  samples {fmt(get("_samples"))} / '
                   f'{fmt(get("_untrained_samples"))}  majority '
                   f"{fmt(r.get(f'probe_{label}_majority'))}")
    lines += reconstruction.format_lines(r)
  return lines
