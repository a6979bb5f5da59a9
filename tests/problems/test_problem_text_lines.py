"""text_lines: training, reuse, padding, errors."""

import os

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta.errors import UserError
from t2t_delta.problems.text_lines import TextLines

from corpus_files import corpus, write_lines


def test_text_lines_trains_then_reuses_vocab(tmp_path):
  write_lines(tmp_path / 'train.txt', corpus(300, 0) + ['', '   '])
  write_lines(tmp_path / 'test.txt', corpus(40, 1))
  p = TextLines(data_dir=str(tmp_path), vocab_size=100, max_length=16)
  p.validate()
  model = tmp_path / 'vocab.100.model'
  assert model.exists()
  mtime = os.stat(model).st_mtime_ns
  assert p.num_examples('train') == 300        # blank lines skipped
  assert p.num_examples('test') == p.num_examples('eval') == 40
  arrays = p.arrays('train')
  spec = p.feature_spec()
  assert set(arrays) == set(spec) == {'targets', 'mask'}
  assert arrays['targets'].shape == (300, 16) and arrays['targets'].dtype == np.int32
  assert arrays['mask'].dtype == np.float32
  lines = p.lines('train')
  for line, targets, mask in zip(lines, arrays['targets'], arrays['mask']):
    ids = p.text_to_ids(line)[:15]
    n = len(ids) + 1                            # EOS counts as a token
    assert mask.sum() == n
    np.testing.assert_array_equal(targets[:n], ids + [p.EOS_ID])
    assert np.all(targets[n:] == 0) and np.all(mask[n:] == 0) and np.all(mask[:n] == 1)
    if len(p.text_to_ids(line)) < 16:
      assert p.ids_to_text(targets) == line
  units = p.units_per_example({'mask': tf.constant(arrays['mask'][:3])})
  np.testing.assert_allclose(units.numpy(), arrays['mask'][:3].sum(1))
  assert p.vocab_size <= 100

  again = TextLines(data_dir=str(tmp_path), vocab_size=100, max_length=16)
  again.validate()
  np.testing.assert_array_equal(again.arrays('test')['targets'],
                                p.arrays('test')['targets'])
  assert os.stat(model).st_mtime_ns == mtime
  assert sorted(f for f in os.listdir(tmp_path) if f.startswith('vocab')) == [
      'vocab.100.model', 'vocab.100.vocab']


def test_text_lines_eval_file_and_default_tiny_corpus(tmp_path):
  write_lines(tmp_path / 'train.txt', ['hello world', 'a tiny corpus'])
  write_lines(tmp_path / 'test.txt', ['hello'])
  write_lines(tmp_path / 'eval.txt', ['world', 'tiny'])
  p = TextLines(data_dir=str(tmp_path))          # vocab_size 2000 on a 2-line corpus
  p.validate()
  assert p.num_examples('eval') == 2
  assert p.vocab_size < 2000
  assert p.arrays('eval')['targets'].shape == (2, 64)


@pytest.mark.parametrize('case', ['no_dir', 'missing_dir', 'no_train', 'no_test',
                                  'empty_train', 'blank_test', 'not_utf8', 'bad_args'])
def test_text_lines_errors(tmp_path, case):
  data_dir, expected = str(tmp_path), None
  if case != 'no_train':
    write_lines(tmp_path / 'train.txt', corpus(30, 0))
  if case != 'no_test':
    write_lines(tmp_path / 'test.txt', corpus(5, 1))
  if case == 'no_dir':
    data_dir, expected = None, '--data_dir'
  elif case == 'missing_dir':
    data_dir, expected = str(tmp_path / 'nope'), 'does not exist'
  elif case == 'no_train':
    expected = 'train.txt does not exist'
  elif case == 'no_test':
    expected = 'test.txt does not exist'
  elif case == 'empty_train':
    (tmp_path / 'train.txt').write_text('')
    expected = 'train.txt has no non-blank lines'
  elif case == 'blank_test':
    (tmp_path / 'test.txt').write_text('\n  \n\n')
    expected = 'test.txt has no non-blank lines'
  elif case == 'not_utf8':
    (tmp_path / 'test.txt').write_bytes(b'caf\xe9\n')
    expected = 'test.txt is not UTF-8'
  with pytest.raises(UserError) as info:
    if case == 'bad_args':
      expected = 'vocab_size'
      TextLines(data_dir=data_dir, vocab_size=2).validate()
    TextLines(data_dir=data_dir, vocab_size=50).validate()
  message = str(info.value)
  assert '\n' not in message and 'text_lines' in message
  assert expected in message, message
