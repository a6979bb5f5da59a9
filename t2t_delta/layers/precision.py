"""The activation dtype that the devices of a strategy compute fastest ('auto').

bfloat16 where the hardware multiplies bfloat16 matrices natively: TPUs, and NVIDIA
GPUs of compute capability 8.0 or higher (A100, H100 and later); float32 elsewhere:
CPUs (most lack native bfloat16 arithmetic, and TensorFlow's element-wise CPU kernels
run bfloat16 slower than float32) and older GPUs.
"""

import tensorflow as tf

MIN_BFLOAT16_CAPABILITY = (8, 0)


def gpu_compute_capabilities():
  """[(major, minor)] of the visible GPUs (empty without GPUs)."""
  out = []
  for gpu in tf.config.list_physical_devices('GPU'):
    capability = tf.config.experimental.get_device_details(gpu).get('compute_capability')
    out.append(tuple(capability) if capability else (0, 0))
  return out


def _device_types(strategy):
  """Device types ('CPU', 'GPU', 'TPU') the strategy (None: no strategy) computes on."""
  if strategy is None:
    # Default placement: TensorFlow puts the computation on a GPU when there is one.
    return {'GPU'} if tf.config.list_logical_devices('GPU') else {'CPU'}
  if isinstance(strategy, tf.distribute.TPUStrategy):
    return {'TPU'}
  devices = strategy.extended.worker_devices
  return {tf.DeviceSpec.from_string(d).device_type or 'CPU' for d in devices}


def auto_compute_dtype(strategy=None):
  """tf.bfloat16 or tf.float32 for `strategy`, by default the one in scope."""
  if strategy is None and tf.distribute.has_strategy():
    strategy = tf.distribute.get_strategy()
  types = _device_types(strategy)
  if types == {'TPU'}:
    return tf.bfloat16
  if types == {'GPU'}:
    capabilities = gpu_compute_capabilities()
    if capabilities and min(capabilities) >= MIN_BFLOAT16_CAPABILITY:
      return tf.bfloat16
  return tf.float32
