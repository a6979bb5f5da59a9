"""`tf.distribute` strategy from a flag: one code path from a laptop to a TPU pod.

  auto          TPU if --tpu is given, MirroredStrategy if GPUs are visible, else CPU
  cpu           OneDeviceStrategy on /cpu:0
  mirrored      MirroredStrategy over local GPUs (or over all logical CPU devices)
  multi_worker  MultiWorkerMirroredStrategy; workers are described by TF_CONFIG
  tpu           TPUStrategy via TPUClusterResolver(--tpu)
"""

import os

import tensorflow as tf

from t2t_delta.errors import UserError

STRATEGIES = ('auto', 'cpu', 'mirrored', 'multi_worker', 'tpu')


def make_strategy(name, tpu=None):
  if name not in STRATEGIES:
    raise UserError(f'unknown --strategy={name!r}; valid: {", ".join(STRATEGIES)}.')
  if name == 'auto':
    if tpu:
      name = 'tpu'
    elif tf.config.list_logical_devices('GPU'):
      name = 'mirrored'
    else:
      name = 'cpu'
  if name == 'cpu':
    return tf.distribute.OneDeviceStrategy('/cpu:0')
  if name == 'mirrored':
    devices = [d.name for d in tf.config.list_logical_devices('GPU')]
    if not devices:
      devices = [d.name for d in tf.config.list_logical_devices('CPU')]
    return tf.distribute.MirroredStrategy(
        devices, cross_device_ops=tf.distribute.ReductionToOneDevice()
        if not tf.config.list_logical_devices('GPU') else None)
  if name == 'multi_worker':
    return tf.distribute.MultiWorkerMirroredStrategy()
  if not tpu:
    raise UserError('--strategy=tpu needs --tpu=NAME (the TPU name or grpc:// address).')
  resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
  tf.config.experimental_connect_to_cluster(resolver)
  tf.tpu.experimental.initialize_tpu_system(resolver)
  return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy):
  """True for the one process that writes the run directory.

  Single-process strategies (cpu, mirrored) have one writer; with TPUStrategy it is
  host 0 of the slice (CLOUD_TPU_TASK_ID / TPU_WORKER_ID unset or 0). Under
  MultiWorkerMirroredStrategy the writer is the 'chief' task if the cluster has one,
  else worker 0; the other workers run the same program but keep their checkpoints
  in a temporary directory and write no metrics, summaries or run files.
  """
  if isinstance(strategy, tf.distribute.TPUStrategy):
    # A launcher that starts the program on every host of a TPU VM slice sets the
    # host's index in the environment; host 0 writes.
    host = os.environ.get('CLOUD_TPU_TASK_ID') or os.environ.get('TPU_WORKER_ID') or '0'
    return host.strip() == '0'
  resolver = getattr(strategy, 'cluster_resolver', None)
  task_type = getattr(resolver, 'task_type', None) if resolver is not None else None
  if not task_type or task_type == 'chief':
    return True
  cluster = resolver.cluster_spec().as_dict()
  return task_type == 'worker' and int(resolver.task_id or 0) == 0 and 'chief' not in cluster


def split_cpu_devices(count):
  """Expose `count` logical CPU devices (call before TF initialises its devices)."""
  cpus = tf.config.list_physical_devices('CPU')
  tf.config.set_logical_device_configuration(
      cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)
