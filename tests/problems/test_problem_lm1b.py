"""languagemodel_lm1b on prepared TFDS data: vocabulary trained once, padding, EOS.

"Prepared" data here is a tiny dataset written in TFDS's on-disk format into a temp dir
(see conftest.py), read through the real builder; nothing is downloaded.
"""

import os

import numpy as np
import tensorflow_datasets as tfds

from t2t_delta.problems.lm1b import LanguagemodelLm1b

ENGLISH = ('the market rallied on monday as investors cheered strong earnings . '
           'officials said the storm would reach the coast by friday . '
           'a new study suggests that coffee may be good for you .').split(' . ')


def _check_text_dataset(problem, split, n):
  ds = problem.examples(split)
  spec = problem.feature_spec()
  assert set(ds.element_spec) == set(spec)
  for key, s in spec.items():
    assert ds.element_spec[key].shape == s.shape and ds.element_spec[key].dtype == s.dtype
  got = list(tfds.as_numpy(ds))
  assert len(got) == n
  for example in got:
    length = int(example['mask'].sum())
    assert 1 <= length <= problem.max_length
    assert example['targets'][length - 1] == problem.EOS_ID
    assert np.all(example['targets'][length:] == 0)
    assert np.all(example['targets'] < problem.vocab_size)
  return got


def test_lm1b_prepared_trains_vocab_once(tmp_path, write_prepared_tfds):
  rng = np.random.default_rng(0)
  train = [{'text': ' '.join(rng.permutation(ENGLISH[i % 3].split()))} for i in range(60)]
  test = [{'text': s} for s in ENGLISH]
  write_prepared_tfds('lm1b', tmp_path, {'train': train, 'test': test})
  p = LanguagemodelLm1b(data_dir=str(tmp_path), vocab_size=64, max_length=24)
  p.validate()
  assert p.num_examples('train') == 60 and p.num_examples('eval') == 3
  assert p.data_info()['tfds_name'] == 'lm1b'
  assert p.data_info()['num_examples'] == {'train': 60, 'eval': 3, 'test': 3}
  got = _check_text_dataset(p, 'test', 3)
  model = tmp_path / 'lm1b_vocab' / 'spm.64.model'
  assert model.exists()
  mtime = os.stat(model).st_mtime_ns
  for example, sentence in zip(got, ENGLISH):
    assert p.ids_to_text(example['targets']) == sentence
  again = LanguagemodelLm1b(data_dir=str(tmp_path), vocab_size=64, max_length=8)
  short = _check_text_dataset(again, 'train', 60)
  assert all(s['mask'].sum() <= 8 for s in short)
  assert os.stat(model).st_mtime_ns == mtime


def test_lm1b_copes_with_random_mock_text(tmp_path, write_prepared_tfds):
  write_prepared_tfds('lm1b', tmp_path,
                      {'train': [{'text': 'x'}], 'test': [{'text': 'y'}]})
  with tfds.testing.mock_data(num_examples=40, data_dir=str(tmp_path)):
    p = LanguagemodelLm1b(data_dir=str(tmp_path), vocab_size=500, max_length=16)
    p.validate()
    _check_text_dataset(p, 'train', 40)
  assert 3 < p.vocab_size <= 500
