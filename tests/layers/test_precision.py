"""'auto' compute dtype: float32 on CPUs, bfloat16 on TPUs and on GPUs >= 8.0."""

import pytest
import tensorflow as tf

from t2t_delta.layers import precision


def test_cpu_strategies_compute_in_float32():
  if tf.config.list_logical_devices('GPU'):
    pytest.skip('a GPU is visible: default placement is not the CPU')
  assert precision.auto_compute_dtype() == tf.float32
  for strategy in (tf.distribute.OneDeviceStrategy('/cpu:0'),
                   tf.distribute.MirroredStrategy(['/cpu:0'])):
    assert precision.auto_compute_dtype(strategy) == tf.float32
    with strategy.scope():
      assert precision.auto_compute_dtype() == tf.float32


def test_gpu_rule_follows_compute_capability(monkeypatch):
  gpu = tf.distribute.OneDeviceStrategy('/gpu:0')
  for capabilities, expected in (([(8, 0)], tf.bfloat16), ([(9, 0), (8, 6)], tf.bfloat16),
                                 ([(7, 5)], tf.float32), ([(8, 0), (7, 0)], tf.float32),
                                 ([], tf.float32)):
    monkeypatch.setattr(precision, 'gpu_compute_capabilities', lambda c=capabilities: c)
    assert precision.auto_compute_dtype(gpu) == expected, capabilities
