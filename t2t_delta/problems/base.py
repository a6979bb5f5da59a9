"""The Problem interface: data, feature shapes and the unit metrics are reported in.

A Problem yields *unbatched* examples for a split as a `tf.data.Dataset` of feature
dicts with static shapes. Batching, shuffling, sharding across input pipelines and
resuming at a data position are done once, in `t2t_delta.train.inputs`.

Two kinds of problem:

* in memory (`arrays(split)` returns NumPy arrays): embedded synthetic problems, user
  files, CIFAR-10. The training stream is a stateless permutation per epoch, so any
  position in it can be reached in O(1) when a run resumes.
* streaming (`examples(split)` only): large TFDS datasets such as LM1B. Resuming skips
  within the current epoch.
"""

import math
import os

import numpy as np
import tensorflow as tf

from t2t_delta.errors import UserError

SPLITS = ('train', 'eval', 'test')


def existing_dir(problem_name, path, help_text):
  """`path` if it is a directory, else a UserError saying what it is instead."""
  if os.path.isdir(path):
    return path
  what = 'is a file, not a directory' if os.path.exists(path) else 'does not exist'
  raise UserError(f'{problem_name}: data directory {path} {what}; pass --data_dir=DIR '
                  f'and {help_text}.')


def existing_file(problem_name, path, help_text):
  """`path` if it is a file, else a UserError saying what it is instead."""
  if os.path.isfile(path):
    return path
  what = 'is a directory, not a file' if os.path.isdir(path) else 'does not exist'
  raise UserError(f'{problem_name}: {path} {what}; {help_text}.')


class Problem:
  """Base class. Subclasses set `modality` and implement `feature_spec` and data access.

  Attributes:
    modality: 'image' or 'text'.
    label_keys: names of integer label features (ground-truth factors, classes) that
      probes can predict from latents; empty when the problem has none.
  """

  modality = None
  label_keys = ()
  registered_name = None

  def __init__(self, data_dir=None):
    self.data_dir = data_dir

  # ---- what subclasses provide -------------------------------------------------------
  def feature_spec(self):
    """Dict name -> tf.TensorSpec of one unbatched example (static shapes)."""
    raise NotImplementedError

  def arrays(self, split):
    """Dict name -> NumPy array [N, ...] for in-memory problems, else None."""
    return None

  def examples(self, split):
    """Finite `tf.data.Dataset` of unbatched example dicts in a fixed order."""
    arrays = self.arrays(self._check_split(split))
    if arrays is None:
      raise NotImplementedError(f'{type(self).__name__} must implement examples().')
    return tf.data.Dataset.from_tensor_slices(arrays)

  def num_examples(self, split):
    """Number of examples in `split`, or None when unknown (streaming problems)."""
    arrays = self.arrays(self._check_split(split))
    if arrays is None:
      return None
    return len(next(iter(arrays.values())))

  def validate(self):
    """Raise UserError early (before any output is written) if the data is unusable."""
    for split in ('train', 'test'):
      n = self.num_examples(split)
      if n is not None and n == 0:
        raise UserError(f'problem {self.registered_name!r} has no {split} examples; '
                        'check --data_dir.')

  def data_info(self):
    """What data a run used, for its run.json: examples per split (None: unknown).

    TFDS problems add the dataset's name, version and directory (see `tfds_image`).
    """
    return {'num_examples': {split: self.num_examples(split) for split in SPLITS}}

  # ---- units --------------------------------------------------------------------------
  @property
  def unit(self):
    """'bits/dim' for images, 'nats/token' for text."""
    return {'image': 'bits/dim', 'text': 'nats/token'}[self.modality]

  def units_per_example(self, features):
    """[B] float32: the number of dimensions (images) or tokens (text) of each example."""
    raise NotImplementedError

  def nats_to_unit(self, nats, units):
    """Convert summed nats over summed units into the problem's reporting unit."""
    value = nats / max(units, 1e-12)
    return value / math.log(2.0) if self.unit.startswith('bits') else value

  # ---- helpers ------------------------------------------------------------------------
  @staticmethod
  def _check_split(split):
    if split not in SPLITS:
      raise UserError(f'unknown split {split!r}; valid splits: {", ".join(SPLITS)}.')
    return split

  def describe(self):
    spec = ', '.join(f'{k}:{v.dtype.name}{list(v.shape)}'
                     for k, v in self.feature_spec().items())
    return f'{self.registered_name} ({self.modality}, {self.unit}; {spec})'


class ImageProblem(Problem):
  """Images `image`: uint8 [H, W, C]; unit bits/dim."""

  modality = 'image'

  @property
  def image_shape(self):
    """(H, W, C)."""
    raise NotImplementedError

  def feature_spec(self):
    spec = {'image': tf.TensorSpec(self.image_shape, tf.uint8)}
    for key in self.label_keys:
      spec[key] = tf.TensorSpec([], tf.int32)
    return spec

  def units_per_example(self, features):
    batch = tf.shape(features['image'])[0]
    return tf.fill([batch], float(np.prod(self.image_shape)))


class TextProblem(Problem):
  """Token ids `targets`: int32 [T] padded with 0 and `mask` float32 [T]; nats/token.

  Id 0 is padding and id 1 the end-of-sentence token, which every sentence ends with and
  which counts as a token (as in language-modelling convention).
  """

  modality = 'text'
  PAD_ID = 0
  EOS_ID = 1

  @property
  def max_length(self):
    raise NotImplementedError

  @property
  def vocab_size(self):
    raise NotImplementedError

  def encode(self, text):
    """str -> list of ids (without EOS)."""
    raise NotImplementedError

  def decode(self, ids):
    """list of ids -> str (stops at EOS, drops padding)."""
    raise NotImplementedError

  def feature_spec(self):
    spec = {'targets': tf.TensorSpec([self.max_length], tf.int32),
            'mask': tf.TensorSpec([self.max_length], tf.float32)}
    for key in self.label_keys:
      spec[key] = tf.TensorSpec([], tf.int32)
    return spec

  def units_per_example(self, features):
    return tf.reduce_sum(tf.cast(features['mask'], tf.float32), axis=-1)

  def pad_ids(self, ids):
    """list of ids -> (targets [T] int32, mask [T] float32) with EOS appended."""
    ids = list(ids)[:self.max_length - 1] + [self.EOS_ID]
    targets = np.zeros([self.max_length], np.int32)
    targets[:len(ids)] = ids
    mask = (np.arange(self.max_length) < len(ids)).astype(np.float32)
    return targets, mask
