"""SentencePiece vocabularies: training, loading, soft size limit, errors."""

import os

import pytest

from t2t_delta.errors import UserError
from t2t_delta.problems import vocab as vocab_lib

from corpus_files import corpus, write_lines


def test_train_and_load_sentencepiece(tmp_path):
  lines = corpus(200, 0)
  vocab = vocab_lib.train_sentencepiece(iter(lines), tmp_path / 'sub' / 'spm', 60)
  assert sorted(os.listdir(tmp_path / 'sub')) == ['spm.model', 'spm.vocab']  # no temp
  assert 8 <= vocab.vocab_size <= 60
  loaded = vocab_lib.load_sentencepiece(tmp_path / 'sub' / 'spm.model')
  assert loaded.vocab_size == vocab.vocab_size
  assert loaded.id_to_piece(0) == '<pad>' and loaded.id_to_piece(1) == '</s>'
  ids = loaded.text_to_ids(lines[0])
  assert ids and min(ids) > 2
  assert loaded.ids_to_text(ids + [1, 0, 0, 5]) == lines[0]
  # A vocabulary bigger than the corpus supports is a soft limit.
  write_lines(tmp_path / 'corpus.txt', lines[:20])
  small = vocab_lib.train_sentencepiece(str(tmp_path / 'corpus.txt'), tmp_path / 'big',
                                        5000, model_type='bpe')
  assert small.vocab_size < 5000
  with pytest.raises(UserError, match='vocab_size'):
    vocab_lib.train_sentencepiece(iter(lines), tmp_path / 'x', 3)
  with pytest.raises(UserError, match='model_type'):
    vocab_lib.train_sentencepiece(iter(lines), tmp_path / 'x', 30, model_type='wordpiece')
  (tmp_path / 'broken.model').write_bytes(b'junk')
  with pytest.raises(UserError, match='broken.model'):
    vocab_lib.load_sentencepiece(tmp_path / 'broken.model')
