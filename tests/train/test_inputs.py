"""The resumable training stream and the padded evaluation batches."""

import numpy as np

from t2t_delta import registry
from t2t_delta.train import inputs


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
