"""One Billion Word Benchmark (TFDS `lm1b`) with a SentencePiece subword vocabulary.

The data must already be prepared: on a machine with internet run
`tfds build lm1b --data_dir=DIR`, copy DIR and pass `--data_dir=DIR` (without it the TFDS
default data dir is used). The problem streams (30M training sentences): `examples()`
tokenises inside tf.data with the vocabulary and `num_examples()` comes from the TFDS
metadata.

The vocabulary is trained on first use from the first `vocab_sentences` training
sentences and stored beside the data as `<data_dir>/lm1b_vocab/spm.<vocab_size>.model`;
later runs (and other hosts) reuse it. `max_length` defaults to 128 pieces including the
end-of-sentence token, which holds all but a tiny fraction of LM1B sentences at 32k
subwords (longer ones are truncated, keeping EOS). Splits: train = TFDS train, eval =
test = TFDS test (LM1B has no separate validation split).
"""

import os

import tensorflow as tf
import tensorflow_datasets as tfds

from t2t_delta import registry
from t2t_delta.errors import UserError
from t2t_delta.problems import vocab as vocab_lib
from t2t_delta.problems.base import TextProblem
from t2t_delta.problems.text_lines import encode_lines
from t2t_delta.problems.tfds_image import tfds_builder, tfds_description

_ENCODE_BATCH = 256


@registry.register_problem('languagemodel_lm1b')
class LanguagemodelLm1b(vocab_lib.SubwordTextMixin, TextProblem):
  """LM1B sentences (TFDS `lm1b`), SentencePiece subwords, streamed; no labels.

  Gin parameters: vocab_size (32000), max_length (128), vocab_sentences (500000),
  model_type ('unigram'), character_coverage (0.9999).
  """

  DATASET = 'lm1b'
  SPLITS = {'train': 'train', 'eval': 'test', 'test': 'test'}

  def __init__(self, data_dir=None, vocab_size=32000, max_length=128,
               vocab_sentences=500_000, model_type='unigram', character_coverage=0.9999):
    super().__init__(data_dir=data_dir)
    self.requested_vocab_size = int(vocab_size)
    self._max_length = int(max_length)
    self.vocab_sentences = int(vocab_sentences)
    self.model_type = model_type
    self.character_coverage = float(character_coverage)
    self._builder = None
    self._vocab = None

  # Arguments are checked on use, not in the constructor, so that a bad gin value
  # surfaces as a plain one-line UserError from validate().
  def _check_args(self):
    name = self.registered_name
    if self.requested_vocab_size < vocab_lib.MIN_VOCAB_SIZE:
      raise UserError(f'{name}.vocab_size must be at least {vocab_lib.MIN_VOCAB_SIZE}, '
                      f'got {self.requested_vocab_size}.')
    if self._max_length < 2:
      raise UserError(f'{name}.max_length must be at least 2, got {self._max_length}.')
    if self.vocab_sentences < 1:
      raise UserError(f'{name}.vocab_sentences must be positive, got '
                      f'{self.vocab_sentences}.')

  @property
  def builder(self):
    if self._builder is None:
      self._check_args()
      self._builder = tfds_builder(self.registered_name, self.DATASET, self.data_dir)
    return self._builder

  # ---- vocabulary ----------------------------------------------------------------------
  @property
  def vocab_path(self):
    return os.path.join(os.fspath(self.builder.data_dir_root), 'lm1b_vocab',
                        f'spm.{self.requested_vocab_size}.model')

  @property
  def vocab(self):
    """The SentencePiece vocabulary; trained from the training text the first time."""
    if self._vocab is None:
      path = self.vocab_path
      if not os.path.isfile(path):
        vocab_lib.train_sentencepiece(
            self._training_text(), path[:-len('.model')], self.requested_vocab_size,
            model_type=self.model_type, character_coverage=self.character_coverage,
            input_sentence_size=self.vocab_sentences)
      self._vocab = vocab_lib.load_sentencepiece(path)
    return self._vocab

  def _training_text(self):
    ds = self._text('train').take(self.vocab_sentences)
    for text in tfds.as_numpy(ds.batch(1024)):
      for t in text:
        yield t.decode('utf-8', errors='replace')

  def validate(self):
    splits = self.builder.info.splits
    for split in sorted(set(self.SPLITS.values())):
      if split not in splits or not splits[split].num_examples:
        raise UserError(f'{self.registered_name}: TFDS dataset lm1b in '
                        f'{self.builder.data_dir} has no {split!r} examples; prepare it '
                        'again with `tfds build lm1b --data_dir=DIR`.')

  def num_examples(self, split):
    return self.builder.info.splits[self.SPLITS[self._check_split(split)]].num_examples

  def data_info(self):
    return dict(tfds_description(self.builder), **super().data_info())

  def _text(self, split):
    read_config = tfds.ReadConfig(shuffle_seed=0, interleave_cycle_length=1,
                                  try_autocache=False)
    ds = self.builder.as_dataset(split=self.SPLITS[self._check_split(split)],
                                 shuffle_files=False, read_config=read_config)
    return ds.map(lambda ex: ex['text'])

  def examples(self, split):
    vocab = self.vocab
    length = self.max_length

    def encode_batch(texts):
      lines = [t.decode('utf-8', errors='replace') for t in texts]
      arrays = encode_lines(vocab, lines, length)
      return arrays['targets'], arrays['mask']

    def tokenise(texts):
      targets, mask = tf.numpy_function(encode_batch, [texts], (tf.int32, tf.float32),
                                        stateful=False)
      return {'targets': tf.ensure_shape(targets, [None, length]),
              'mask': tf.ensure_shape(mask, [None, length])}

    ds = self._text(split).batch(_ENCODE_BATCH)
    ds = ds.map(tokenise, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.unbatch()
