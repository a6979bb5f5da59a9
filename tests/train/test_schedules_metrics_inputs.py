"""Learning-rate schedules, unit conversion and the resumable input stream."""

import math

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta import registry
from t2t_delta.train import inputs, metrics, schedules


def test_delta_vae_schedule_warms_up_then_decays():
  lr = lambda s: float(schedules.delta_vae_schedule(s, scale=0.36, warmup_steps=8000,
                                                    hidden_size=256))
  # Linear warm-up branch: c * h^-0.5 * step * w^-1.5.
  assert lr(100) == pytest.approx(0.36 / 16 * 100 * 8000 ** -1.5, rel=1e-5)
  # Decay branch after the crossover step w^(1.5/1.35).
  crossover = 8000 ** (1.5 / 1.35)
  late = 4 * crossover
  assert lr(late) == pytest.approx(0.36 / 16 * late ** -0.35, rel=1e-4)
  peak = max(lr(s) for s in range(1000, 60000, 500))
  assert lr(1000) < peak and lr(200000) < peak


def test_constant_and_warmup_schedules():
  assert float(schedules.constant(5, value=1e-4)) == pytest.approx(1e-4)
  assert float(schedules.linear_warmup_constant(0, value=1.0, warmup_steps=10)) == (
      pytest.approx(0.1))
  assert float(schedules.linear_warmup_constant(50, value=1.0, warmup_steps=10)) == 1.0


def test_linear_warmup_cosine_decay():
  lr = lambda s, **kw: float(schedules.linear_warmup_cosine_decay(
      s, value=2.0, warmup_steps=10, decay_steps=110, **kw))
  assert lr(0) == pytest.approx(0.2)                     # warm-up: (step + 1) / 10
  assert lr(9) == pytest.approx(2.0)                     # peak at the end of warm-up
  assert lr(59) == pytest.approx(1.0)                    # half way through the cosine
  assert lr(109) == pytest.approx(0.0, abs=1e-6)         # zero at decay_steps
  assert lr(500) == pytest.approx(0.0, abs=1e-6)         # and after it
  assert lr(500, final_fraction=0.1) == pytest.approx(0.2)
  decay = [lr(s) for s in range(9, 110)]
  assert all(a >= b for a, b in zip(decay, decay[1:]))   # monotone after warm-up


def test_summary_units_images_and_text():
  image = registry.problem('tiny_images')()
  sums = {'count': 2.0, 'units': 2.0 * 192, 'distortion': 300.0, 'rate': 12.0,
          'committed_rate': 4.0}
  record = metrics.summarize(image, sums, step=3, split='test')
  per_dim_bits = lambda nats: nats / (2 * 192) / math.log(2)
  assert record['unit'] == 'bits/dim'
  assert record['distortion'] == pytest.approx(per_dim_bits(300.0))
  assert record['rate'] == pytest.approx(per_dim_bits(12.0))
  assert record['nelbo'] == pytest.approx(record['distortion'] + record['rate'])
  assert record['committed_rate'] == pytest.approx(per_dim_bits(4.0))
  assert record['rate_bits_per_example'] == pytest.approx(6.0 / math.log(2))
  text = registry.problem('tiny_text')()
  record = metrics.summarize(text, {'count': 2.0, 'units': 10.0, 'distortion': 20.0,
                                    'rate': 5.0}, step=1, split='eval')
  assert record['unit'] == 'nats/token'
  assert record['nelbo'] == pytest.approx(2.5)


def _stream(problem, start_step, batch=16, steps=5, seed=3):
  ds = inputs.train_dataset(problem, batch, seed, start_step)
  return [b['image'].numpy() for b in ds.take(steps)]


def test_train_stream_resumes_exactly_and_covers_each_epoch_once():
  problem = registry.problem('tiny_images')()
  full = _stream(problem, 0, steps=40)
  resumed = _stream(problem, 23, steps=17)
  for a, b in zip(full[23:], resumed):
    np.testing.assert_array_equal(a, b)
  # 256 examples / 16 per step: each epoch of 16 steps is a permutation of the data.
  train = problem.arrays('train')['image'].reshape(256, -1)
  epoch = np.concatenate(full[:16]).reshape(256, -1)
  as_rows = lambda a: sorted(map(bytes, a))
  assert as_rows(epoch) == as_rows(train)
  next_epoch = np.concatenate(full[16:32]).reshape(256, -1)
  assert as_rows(next_epoch) == as_rows(train)
  assert not np.array_equal(epoch, next_epoch)   # reshuffled per epoch


def test_eval_dataset_covers_split_once_with_padding_weights():
  problem = registry.problem('tiny_images')()   # 48 test examples
  batches = list(inputs.eval_dataset(problem, 'test', 20))
  assert [b['image'].shape[0] for b in batches] == [20, 20, 20]
  weights = np.concatenate([b['weight'].numpy() for b in batches])
  assert weights.sum() == 48 and (weights[48:] == 0).all()
