"""train/optimizer.py: the fused Adam update against the element-wise one (with
clipping and skipped steps), and the checks of the adam.* bindings."""

import math

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta.errors import UserError
from t2t_delta.train import optimizer


def _reference_adam(values, grads_per_step, applied, lr, clip_norm, b1=0.9, b2=0.999,
                    eps=1e-8):
  values = [v.astype(np.float64) for v in values]
  m = [np.zeros_like(v) for v in values]
  s = [np.zeros_like(v) for v in values]
  for t, (grads, apply) in enumerate(zip(grads_per_step, applied), start=1):
    if not apply:
      continue
    scale = 1.0
    if clip_norm:
      norm = np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in grads))
      scale = min(1.0, clip_norm / max(norm, 1e-12))
    for i, g in enumerate(grads):
      g = g * scale
      m[i] = b1 * m[i] + (1 - b1) * g
      s[i] = b2 * s[i] + (1 - b2) * g * g
      values[i] = values[i] - (lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                               * m[i] / (np.sqrt(s[i]) + eps))
  return values


@pytest.mark.parametrize('clip_norm', [None, 0.5])
def test_adam_matches_reference_update(clip_norm):
  rng = np.random.default_rng(5)
  shapes = ([3, 4], [4], [2, 3, 5])
  values = [rng.standard_normal(s).astype(np.float32) for s in shapes]
  steps = [[rng.standard_normal(s).astype(np.float32) for s in shapes]
           for _ in range(4)]
  applied = [True, False, True, True]
  strategy = tf.distribute.OneDeviceStrategy('/cpu:0')
  with strategy.scope():
    variables = [tf.Variable(v) for v in values]
    adam = optimizer.Adam(variables, lambda step: 0.01, clip_norm=clip_norm)

  @tf.function
  def step(grads, apply):
    strategy.run(lambda: adam.apply_gradients(grads, variables, apply))

  for grads, apply in zip(steps, applied):
    step([tf.constant(g) for g in grads], tf.constant(apply))
  expected = _reference_adam(values, steps, applied, 0.01, clip_norm)
  for v, e in zip(variables, expected):
    np.testing.assert_allclose(v.numpy(), e, rtol=1e-5, atol=1e-6)
  assert int(adam.iterations.numpy()) == 4 and int(adam.skipped.numpy()) == 1


@pytest.mark.parametrize('binding,value', [
    ('beta1', 1.0), ('beta1', -0.1), ('beta2', 1.5), ('epsilon', 0.0),
    ('epsilon', math.inf), ('clip_norm', 0.0), ('clip_norm', -1.0), ('beta1', True)])
def test_unusable_hyperparameters_name_their_binding(binding, value):
  variables = [tf.Variable([1.0])]
  with pytest.raises(UserError, match=f'adam.{binding}={value!r} is invalid'):
    optimizer.Adam(variables, lambda step: 0.01, **{binding: value})
