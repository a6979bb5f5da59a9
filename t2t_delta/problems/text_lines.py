"""User text from plain files, one sentence per line, with a SentencePiece vocabulary.

`--data_dir` holds `train.txt` and `test.txt` (and optionally `eval.txt`; else eval is
the test split), UTF-8, one sentence per line; blank lines are skipped. On first use a
SentencePiece model is trained on train.txt and saved as `vocab.<vocab_size>.model` in
the data directory; later runs reuse it. `vocab_size` is a soft limit: a small corpus
gets a smaller vocabulary (the file name keeps the requested size). Sentences longer
than `max_length - 1` pieces are truncated (the end-of-sentence token is kept).
"""

import os

import numpy as np

from t2t_delta import registry
from t2t_delta.errors import UserError
from t2t_delta.problems import vocab as vocab_lib
from t2t_delta.problems.base import TextProblem, existing_dir, existing_file

_LAYOUT_HELP = 'put train.txt and test.txt (UTF-8, one sentence per line) in it'


def read_lines(path, problem_name):
  """Non-blank, stripped lines of a UTF-8 text file; UserError naming the file."""
  try:
    with open(path, encoding='utf-8') as f:
      lines = [line.strip() for line in f]
  except UnicodeDecodeError as e:
    raise UserError(f'{problem_name}: {path} is not UTF-8 text (byte {e.start}); '
                    'convert it with iconv -t utf-8.') from e
  except OSError as e:
    raise UserError(f'{problem_name}: cannot read {path} ({e.strerror}).') from e
  lines = [line for line in lines if line]
  if not lines:
    raise UserError(f'{problem_name}: {path} has no non-blank lines; put one sentence '
                    'per line in it.')
  return lines


@registry.register_problem
class TextLines(vocab_lib.SubwordTextMixin, TextProblem):
  """Your text: --data_dir with train.txt/test.txt, one sentence per line; subwords.

  Gin parameters: vocab_size (2000, soft limit), max_length (64), model_type ('unigram'),
  character_coverage (1.0). No labels.
  """

  def __init__(self, data_dir=None, vocab_size=2000, max_length=64,
               model_type='unigram', character_coverage=1.0):
    super().__init__(data_dir=data_dir)
    self.requested_vocab_size = int(vocab_size)
    self._max_length = int(max_length)
    self.model_type = model_type
    self.character_coverage = float(character_coverage)
    self._vocab = None
    self._lines = None
    self._cache = {}

  # ---- files ---------------------------------------------------------------------------
  # Arguments are checked on use, not in the constructor, so that a bad gin value
  # surfaces as a plain one-line UserError from validate().
  def _dir(self):
    if self.requested_vocab_size < vocab_lib.MIN_VOCAB_SIZE:
      raise UserError(f'text_lines.vocab_size must be at least '
                      f'{vocab_lib.MIN_VOCAB_SIZE}, got {self.requested_vocab_size}.')
    if self._max_length < 2:
      raise UserError(f'text_lines.max_length must be at least 2, got '
                      f'{self._max_length}.')
    if not self.data_dir:
      raise UserError(f'text_lines: no data directory given; pass --data_dir=DIR and '
                      f'{_LAYOUT_HELP}.')
    return existing_dir('text_lines', os.fspath(self.data_dir), _LAYOUT_HELP)

  def _split_files(self):
    data_dir = self._dir()
    files = {}
    for split in ('train', 'test'):
      files[split] = existing_file('text_lines', os.path.join(data_dir, f'{split}.txt'),
                                   _LAYOUT_HELP)
    eval_path = os.path.join(data_dir, 'eval.txt')
    files['eval'] = eval_path if os.path.isfile(eval_path) else files['test']
    return files

  def lines(self, split):
    """The non-blank lines of `split` (cached)."""
    split = self._check_split(split)
    if self._lines is None:
      files = self._split_files()
      loaded = {}
      for s, path in files.items():
        if path not in loaded:
          loaded[path] = read_lines(path, 'text_lines')
      self._lines = {s: loaded[path] for s, path in files.items()}
    return self._lines[split]

  @property
  def vocab_path(self):
    return os.path.join(self._dir(), f'vocab.{self.requested_vocab_size}.model')

  @property
  def vocab(self):
    """The SentencePiece vocabulary, trained on train.txt the first time."""
    if self._vocab is None:
      path = self.vocab_path
      if not os.path.isfile(path):
        train_lines = self.lines('train')
        vocab_lib.train_sentencepiece(
            train_lines, path[:-len('.model')], self.requested_vocab_size,
            model_type=self.model_type, character_coverage=self.character_coverage)
      self._vocab = vocab_lib.load_sentencepiece(path)
    return self._vocab

  def arrays(self, split):
    split = self._check_split(split)
    if split not in self._cache:
      lines = self.lines(split)
      same = [s for s in self._cache if self.lines(s) is lines]
      if same:
        self._cache[split] = self._cache[same[0]]
      else:
        self._cache[split] = encode_lines(self.vocab, lines, self.max_length)
    return self._cache[split]

  def validate(self):
    for split in ('train', 'test', 'eval'):
      self.lines(split)
    self.vocab  # pylint: disable=pointless-statement


def encode_lines(vocab, lines, max_length, eos_id=TextProblem.EOS_ID):
  """Encode strings into {'targets': int32 [N, T], 'mask': float32 [N, T]} with EOS."""
  targets = np.zeros([len(lines), max_length], np.int32)
  lengths = np.zeros([len(lines)], np.int64)
  for k, ids in enumerate(vocab.encode_batch(lines)):
    ids = ids[:max_length - 1] + [eos_id]
    targets[k, :len(ids)] = ids
    lengths[k] = len(ids)
  mask = (np.arange(max_length)[None, :] < lengths[:, None]).astype(np.float32)
  return {'targets': targets, 'mask': mask}
