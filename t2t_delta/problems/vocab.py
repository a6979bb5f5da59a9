"""SentencePiece subword vocabularies for the text problems.

Ids follow the `TextProblem` convention: 0 is padding and 1 end-of-sentence
(`problems.base.PAD_ID`, `EOS_ID`), 2 unknown; there is no beginning-of-sentence token.

    vocab = train_sentencepiece(lines, '/data/vocab.2000', vocab_size=2000)
    vocab = load_sentencepiece('/data/vocab.2000.model')
    ids = vocab.text_to_ids('a sentence')       # without EOS
    vocab.ids_to_text(ids + [1, 0, 0])          # stops at EOS, drops padding

Training writes `<model_prefix>.model` and `<model_prefix>.vocab` atomically: the model
is trained under a temporary name in the same directory and renamed into place, `.model`
last, so an interrupted run never leaves a half-written vocabulary behind. The vocabulary
size is a soft limit (`hard_vocab_limit=False`): a corpus too small for `vocab_size`
pieces gets a smaller vocabulary instead of an error.
"""

import itertools
import os
import tempfile

import numpy as np
import sentencepiece as spm

from t2t_delta.errors import UserError
from t2t_delta.problems.base import EOS_ID, PAD_ID

UNK_ID = 2
MIN_VOCAB_SIZE = 8


class SentencePieceVocab:
  """A trained SentencePiece model with the padding/EOS conventions of TextProblem."""

  def __init__(self, processor, path=None):
    self._sp = processor
    self.path = path

  @property
  def vocab_size(self):
    """Number of ids, including padding, EOS and unknown."""
    return self._sp.get_piece_size()

  def text_to_ids(self, text):
    """str -> list of int ids (no EOS)."""
    return list(self._sp.encode(text, out_type=int))

  def encode_batch(self, texts):
    """list of str -> list of lists of ids (no EOS)."""
    return self._sp.encode(list(texts), out_type=int)

  def ids_to_text(self, ids):
    """Ids -> str; stops at the first EOS and drops padding."""
    out = []
    for i in np.asarray(ids, dtype=np.int64).reshape(-1).tolist():
      if i == EOS_ID:
        break
      if i != PAD_ID and 0 <= i < self.vocab_size:
        out.append(i)
    return self._sp.decode(out)

  def id_to_piece(self, i):
    return self._sp.id_to_piece(int(i))

  def __repr__(self):
    return f'SentencePieceVocab(vocab_size={self.vocab_size}, path={self.path!r})'


def load_sentencepiece(path):
  """Load `path` (a `.model` file) into a SentencePieceVocab; UserError if unreadable."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise UserError(f'sentencepiece model {path} does not exist; train one with '
                    'train_sentencepiece() or remove the path from the configuration.')
  processor = spm.SentencePieceProcessor()
  try:
    with open(path, 'rb') as f:
      processor.LoadFromSerializedProto(f.read())
  except (OSError, RuntimeError) as e:
    raise UserError(f'cannot read sentencepiece model {path} ({_one_line(e)}); delete it '
                    'so that it is trained again.') from e
  if (processor.pad_id() != PAD_ID or processor.eos_id() != EOS_ID
      or processor.unk_id() != UNK_ID):
    raise UserError(f'sentencepiece model {path} uses pad/eos/unk ids '
                    f'{processor.pad_id()}/{processor.eos_id()}/{processor.unk_id()}, '
                    f'expected {PAD_ID}/{EOS_ID}/{UNK_ID}; delete it so that it is '
                    'trained again.')
  return SentencePieceVocab(processor, path)


def train_sentencepiece(text, model_prefix, vocab_size, model_type='unigram',
                        character_coverage=1.0, input_sentence_size=1_000_000,
                        max_sentence_length=8192, num_threads=None):
  """Train a SentencePiece model and return it as a SentencePieceVocab.

  Args:
    text: a path to a text file (one sentence per line), or an iterable of str.
    model_prefix: output path without extension; writes `<prefix>.model` and
      `<prefix>.vocab`.
    vocab_size: requested number of ids (a soft limit; tiny corpora get fewer).
    model_type: 'unigram' (default), 'bpe', 'char' or 'word'.
    character_coverage: fraction of characters covered by the vocabulary; rarer
      characters map to the unknown id (use ~0.9995 for scripts with many symbols).
    input_sentence_size: at most this many sentences are used for training (an
      iterable is read no further than that; a file is sampled by SentencePiece).
    max_sentence_length: longer sentences (in bytes) are skipped during training.
    num_threads: trainer threads; default the number of CPUs.
  """
  if int(vocab_size) < MIN_VOCAB_SIZE:
    raise UserError(f'vocab_size must be at least {MIN_VOCAB_SIZE}, got {vocab_size}.')
  if model_type not in ('unigram', 'bpe', 'char', 'word'):
    raise UserError(f'unknown sentencepiece model_type {model_type!r}; valid: unigram, '
                    'bpe, char, word.')
  model_prefix = os.fspath(model_prefix)
  directory = os.path.dirname(os.path.abspath(model_prefix))
  try:
    os.makedirs(directory, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix='.spm-', dir=directory)
  except OSError as e:
    raise UserError(f'cannot write a vocabulary into {directory} ({_one_line(e)}); make '
                    'it writable or copy the data to a writable folder.') from e
  tmp_prefix = os.path.join(tmp_dir, 'spm')
  kwargs = dict(
      model_prefix=tmp_prefix, vocab_size=int(vocab_size), model_type=model_type,
      character_coverage=float(character_coverage), pad_id=PAD_ID, eos_id=EOS_ID,
      unk_id=UNK_ID, bos_id=-1, hard_vocab_limit=False,
      max_sentence_length=int(max_sentence_length),
      num_threads=int(num_threads or os.cpu_count() or 1), minloglevel=2)
  if isinstance(text, (str, os.PathLike)):
    kwargs.update(input=os.fspath(text), input_sentence_size=int(input_sentence_size),
                  shuffle_input_sentence=True)
  else:
    lines = (line for line in text if line and line.strip())
    kwargs.update(sentence_iterator=itertools.islice(lines, int(input_sentence_size)))
  try:
    try:
      spm.SentencePieceTrainer.train(**kwargs)
    except RuntimeError as e:
      raise UserError(f'sentencepiece training for {model_prefix} failed: '
                      f'{_one_line(e)}') from e
    os.replace(tmp_prefix + '.vocab', model_prefix + '.vocab')
    os.replace(tmp_prefix + '.model', model_prefix + '.model')
  finally:
    for name in ('spm.model', 'spm.vocab'):
      try:
        os.remove(os.path.join(tmp_dir, name))
      except OSError:
        pass
    try:
      os.rmdir(tmp_dir)
    except OSError:
      pass
  return load_sentencepiece(model_prefix + '.model')


def _one_line(error):
  text = ' '.join(str(error).split())
  return text[:300]


class SubwordTextMixin:
  """TextProblem methods of a problem whose `vocab` is a `SentencePieceVocab`.

  The problem provides `vocab` (loaded or trained lazily) and `_max_length`.
  """

  @property
  def max_length(self):
    return self._max_length

  @property
  def vocab_size(self):
    return self.vocab.vocab_size

  def text_to_ids(self, text):
    return self.vocab.text_to_ids(text)

  def ids_to_text(self, ids):
    return self.vocab.ids_to_text(ids)
