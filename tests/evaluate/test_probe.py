"""Linear probes and t-SNE on synthetic features."""

import os

import numpy as np

from t2t_delta.evaluate import probe


def _clusters(n, num_classes=4, dim=6, seed=0):
  rng = np.random.RandomState(seed)
  centres = np.random.RandomState(42).randn(num_classes, dim) * 3.0
  labels = rng.randint(0, num_classes, n)
  return centres[labels] + rng.randn(n, dim), labels


def test_probe_beats_chance_and_majority_on_separable_features():
  train_x, train_y = _clusters(300, seed=0)
  test_x, test_y = _clusters(100, seed=1)
  result = probe.linear_probe(train_x, train_y, test_x, test_y)
  assert result['accuracy'] > 0.9
  assert result['majority'] < 0.5
  assert result['accuracy'] > result['majority'] + 0.4


def test_probe_is_at_chance_on_uninformative_features():
  rng = np.random.RandomState(0)
  labels = rng.randint(0, 2, 400)
  result = probe.linear_probe(rng.randn(300, 5), labels[:300], rng.randn(100, 5),
                              labels[300:])
  assert abs(result['accuracy'] - 0.5) < 0.15


def test_majority_baseline_and_single_class():
  assert probe.majority_accuracy([1, 1, 2], [1, 2, 2, 2]) == 0.25
  result = probe.linear_probe(np.zeros([5, 2]), [3] * 5, np.zeros([2, 2]), [3, 1])
  assert result['accuracy'] == result['majority'] == 0.5


def test_probe_all_labels_uses_every_shared_key():
  x, y = _clusters(120)
  results = probe.probe_all_labels(x, {'a': y, 'b': y % 2}, x, {'a': y, 'b': y % 2})
  assert set(results) == {'a', 'b'}


def test_tsne_png(tmp_path):
  x, y = _clusters(40)
  path = probe.tsne_png(x, y, str(tmp_path / 't.png'), label_name='class')
  assert os.path.getsize(path) > 1000
  with open(path, 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
