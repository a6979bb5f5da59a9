"""The whole-split −ELBO pass, shared by the trainer's evaluations and t2t-delta-eval.

    step = tf.function(lambda features: eval_loop.batch_terms(model, problem, features))
    totals, rate_per_group = eval_loop.split_totals(step, batches, problem, 'eval')
    record = metrics.split_record(problem, totals, global_step, 'eval',
                                  model.committed_rate())

The trainer runs `batch_terms` on every replica and sums the replicas' results (its
`eval_step`); the evaluator calls it directly. Either way the model runs with
training=False and the fixed evaluation seed, so the same weights give the same record.
"""

import numpy as np
import tensorflow as tf

from t2t_delta.errors import UserError
from t2t_delta.train import metrics

EVAL_SEED = (0, 0)


def eval_terms(model, features):
  """The model's per-example terms in evaluation: training=False, the fixed seed
  (also what `evaluate.information.encode_split` sums for latent models)."""
  return model(features, training=False, seed=tf.constant(EVAL_SEED, tf.int32))


def batch_terms(model, problem, features):
  """(sums, group sums) of one batch in nats (`metrics.batch_sums`, `group_sums`)."""
  out = eval_terms(model, features)
  return metrics.batch_sums(problem, features, out), metrics.group_sums(features, out)


def split_totals(eval_step, batches, problem, split, before_batch=None):
  """Sum `eval_step(features)` over `batches` (a whole split, or its first examples).

  Args:
    eval_step: features -> (sums, group sums), e.g. a compiled `batch_terms`.
    batches: the split's batches (padding weighted 0 by `metrics`).
    problem, split: for the message when there is no batch.
    before_batch: optional function called before each batch (it may raise to stop).

  Returns:
    (totals, rate_per_group): totals {name: float} in nats, and the rate of each latent
    group (dimension) in nats per example, float64 [G], or None for a model that does
    not report it. UserError if the split is empty.
  """
  totals, per_group = {}, None
  for features in batches:
    if before_batch is not None:
      before_batch()
    sums, groups = eval_step(features)
    metrics.add(totals, metrics.to_numpy(sums))
    if 'rate_per_group' in groups:
      value = np.asarray(groups['rate_per_group'], np.float64)
      per_group = value if per_group is None else per_group + value
  if not totals:
    raise UserError(f'the {split} split of {problem.registered_name} is empty.')
  if per_group is not None:
    per_group = per_group / max(totals['count'], 1e-12)
  return totals, per_group
