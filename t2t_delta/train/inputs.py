"""Input pipelines: the training stream (resumable) and whole-split evaluation batches.

Batch sizes are *examples per global step*; each input pipeline (host) produces its
share, `global_batch // num_input_pipelines`, which the strategy splits over its local
replicas.

Training stream. The example at global position g (g = step · global_batch + i) is
fixed by the seed alone, so resuming at step s continues exactly where the run stopped:

* in-memory problems: epoch e = g // N, index = a stateless permutation (seed, e) of
  g mod N (`tf.random.experimental.index_shuffle`); reaching any position is O(1);
* streaming problems: each epoch is shuffled with a per-epoch seed through a bounded
  buffer; resuming skips to the position within the current epoch.

Evaluation covers the whole split: the last batch is padded to the static batch size
and carries a `weight` feature (1 real, 0 padding) that metrics use.
"""

import numpy as np
import tensorflow as tf

SHUFFLE_BUFFER = 10000
PREFETCH = 2


def _layout(global_batch, input_context):
  """(pipeline_id, num_pipelines, replicas per pipeline, per-replica batch)."""
  if input_context is None:
    return 0, 1, 1, global_batch
  replicas = input_context.num_replicas_in_sync
  pipelines = input_context.num_input_pipelines
  if global_batch % replicas:
    raise ValueError(f'global batch {global_batch} is not divisible by the '
                     f'{replicas} replicas.')
  return (input_context.input_pipeline_id, pipelines, replicas // pipelines,
          global_batch // replicas)


def train_dataset(problem, global_batch, seed, start_step=0, input_context=None):
  """Infinite dataset of per-replica training batches.

  Each element is one replica's batch of `global_batch / num_replicas` examples; a
  pipeline yields its replicas' batches in order, step after step (the layout
  `tf.distribute`'s `distribute_datasets_from_function` expects).
  """
  pipeline_id, num_pipelines, local_replicas, replica_batch = _layout(
      global_batch, input_context)
  arrays = problem.arrays('train')
  if arrays is not None:
    ds = _in_memory_stream(arrays, global_batch, replica_batch, local_replicas,
                           pipeline_id, seed, start_step)
  else:
    ds = _streaming_stream(problem, replica_batch * local_replicas, replica_batch,
                           pipeline_id, num_pipelines, seed, start_step)
  return _fixed_prefetch(ds)


def _fixed_prefetch(ds):
  """Prefetch two elements with tf.data autotuning off.

  The pipelines are hundreds of times faster than a training step (bench/
  input_pipeline.py), so autotuning gains nothing, and its background thread made
  destroying a long-lived iterator take 30-40 s at the end of every run.
  """
  options = tf.data.Options()
  options.autotune.enabled = False
  return ds.prefetch(PREFETCH).with_options(options)


def _in_memory_stream(arrays, global_batch, replica_batch, local_replicas, pipeline_id,
                      seed, start_step):
  n = len(next(iter(arrays.values())))
  tensors = {k: tf.constant(v) for k, v in arrays.items()}
  seed = int(seed)

  def replica_batch_at(k):
    step, local_replica = k // local_replicas, k % local_replicas
    replica = pipeline_id * local_replicas + local_replica
    g = step * global_batch + replica * replica_batch + tf.range(replica_batch,
                                                                dtype=tf.int64)
    epoch, position = g // n, g % n
    seeds = tf.stack([tf.fill(tf.shape(epoch), tf.constant(seed, tf.int64)), epoch,
                      tf.zeros_like(epoch)], axis=1)
    # The raw op takes one [3] seed per index (the public wrapper pads a [2] seed).
    index = tf.raw_ops.RandomIndexShuffle(index=position, seed=seeds,
                                          max_index=tf.constant(n - 1, tf.int64))
    return {k: tf.gather(v, index) for k, v in tensors.items()}

  return tf.data.Dataset.range(start_step * local_replicas, np.iinfo(np.int64).max).map(
      replica_batch_at, num_parallel_calls=2, deterministic=True)


def _streaming_stream(problem, pipeline_batch, local_batch, pipeline_id, num_pipelines,
                      seed, start_step):
  examples = problem.examples('train').shard(num_pipelines, pipeline_id)
  n = problem.num_examples('train')
  per_pipeline = n // num_pipelines if n else None
  start = start_step * pipeline_batch
  start_epoch, skip = divmod(start, per_pipeline) if per_pipeline else (0, start)

  def one_epoch(epoch):
    epoch_seed = tf.constant(int(seed) * 1000003, tf.int64) + epoch
    return examples.shuffle(SHUFFLE_BUFFER, seed=epoch_seed,
                            reshuffle_each_iteration=False)

  ds = tf.data.Dataset.range(start_epoch, np.iinfo(np.int64).max).flat_map(one_epoch)
  return ds.skip(skip).batch(local_batch, drop_remainder=True)


def eval_dataset(problem, split, global_batch, input_context=None):
  """Finite dataset of padded per-replica batches covering the split once, with `weight`.

  The number of batches can differ by one between pipelines of a multi-host run;
  `tf.distribute` pads the missing replica batches (use `eval_batch_size` that divides
  the split for exact per-host balance).
  """
  pipeline_id, num_pipelines, _, local_batch = _layout(global_batch, input_context)
  examples = problem.examples(split).shard(num_pipelines, pipeline_id)
  examples = examples.map(lambda ex: dict(ex, weight=tf.constant(1.0)))
  spec = dict(problem.feature_spec(), weight=tf.TensorSpec([], tf.float32))

  def pad(batch):
    size = tf.shape(batch['weight'])[0]
    out = {}
    for key, value in batch.items():
      paddings = [[0, local_batch - size]] + [[0, 0]] * (value.shape.rank - 1)
      out[key] = tf.ensure_shape(tf.pad(value, paddings),
                                 [local_batch] + list(spec[key].shape))
    return out

  return _fixed_prefetch(examples.batch(local_batch).map(pad))
