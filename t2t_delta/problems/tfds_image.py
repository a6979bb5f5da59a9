"""Image datasets from TensorFlow Datasets: CIFAR-10 (in memory) and ImageNet 32x32.

The data must already be prepared (TFDS never downloads here): on a machine with
internet run `tfds build cifar10 --data_dir=DIR` (or `imagenet_resized/32x32`), copy
DIR and pass `--data_dir=DIR`. Without `--data_dir` the TFDS default
(`~/tensorflow_datasets` or `$TFDS_DATA_DIR`) is used. Missing data is a one-line
`UserError` from `validate()` or on first access.
"""

import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from t2t_delta import registry
from t2t_delta.errors import UserError
from t2t_delta.problems.base import ImageProblem


def tfds_builder(problem_name, dataset, data_dir, build_hint=None):
  """A prepared TFDS builder for `dataset`, else a one-line UserError on how to build it.

  Never downloads or prepares anything.
  """
  hint = build_hint or (f'on a machine with internet run `tfds build {dataset} '
                        '--data_dir=DIR`, copy DIR here and pass --data_dir=DIR')
  if data_dir is not None and not os.path.isdir(os.fspath(data_dir)):
    what = ('is a file, not a directory' if os.path.exists(os.fspath(data_dir))
            else 'does not exist')
    raise UserError(f'{problem_name}: --data_dir {data_dir} {what}; {hint}.')
  try:
    builder = tfds.builder(dataset, data_dir=None if data_dir is None
                           else os.fspath(data_dir))
    prepared = builder.is_prepared()
  except (tfds.core.registered.DatasetNotFoundError, OSError, ValueError) as e:
    raise UserError(f'{problem_name}: cannot open TFDS dataset {dataset} in '
                    f'{data_dir or "the default TFDS data dir"} '
                    f'({" ".join(str(e).split())[:200]}).') from e
  if not prepared:
    raise UserError(f'{problem_name}: TFDS dataset {dataset} is not prepared in '
                    f'{builder.data_dir_root} (looked for {builder.data_dir}); {hint}.')
  return builder


def tfds_description(builder):
  """{'tfds_name', 'tfds_version', 'tfds_data_dir'} of a prepared TFDS builder.

  Recorded in run.json: the same TFDS name can hold other data in another version
  (e.g. `imagenet_resized/32x32` is not the original 32x32 ImageNet; see the README).
  """
  return {'tfds_name': builder.info.full_name.rsplit('/', 1)[0],
          'tfds_version': str(builder.version), 'tfds_data_dir': os.fspath(builder.data_dir)}


def _read_config():
  return tfds.ReadConfig(shuffle_seed=0, interleave_cycle_length=1,
                         try_autocache=False)


class _TfdsImageProblem(ImageProblem):
  """Images and integer `label` from a TFDS dataset with features image/label."""

  DATASET = None
  SPLITS = None          # our split -> TFDS split
  IMAGE_SHAPE = (32, 32, 3)
  label_keys = ('label',)

  def __init__(self, data_dir=None):
    super().__init__(data_dir=data_dir)
    self._builder = None

  @property
  def builder(self):
    if self._builder is None:
      hint = (f'on a machine with internet run `tfds build {self.DATASET} '
              '--data_dir=DIR`, copy DIR here and pass --data_dir=DIR (or use problem '
              'image_files with your own train.npz/test.npz)')
      self._builder = tfds_builder(self.registered_name, self.DATASET, self.data_dir,
                                   hint)
    return self._builder

  @property
  def image_shape(self):
    return self.IMAGE_SHAPE

  def tfds_split(self, split):
    return self.SPLITS[self._check_split(split)]

  def data_info(self):
    return dict(tfds_description(self.builder), **super().data_info())

  def validate(self):
    builder = self.builder
    for split in ('train', 'test', 'eval'):
      name = self.tfds_split(split)
      base = name.split('[')[0]
      if base not in builder.info.splits:
        raise UserError(f'{self.registered_name}: TFDS dataset {self.DATASET} in '
                        f'{builder.data_dir} has no {base!r} split (has '
                        f'{", ".join(builder.info.splits) or "none"}); prepare it '
                        'again with `tfds build`.')
    super().validate()

  def _dataset(self, split):
    ds = self.builder.as_dataset(split=self.tfds_split(split), shuffle_files=False,
                                 read_config=_read_config())
    shape = self.IMAGE_SHAPE
    return ds.map(lambda ex: {'image': tf.ensure_shape(ex['image'], shape),
                              'label': tf.cast(ex['label'], tf.int32)},
                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


@registry.register_problem('image_cifar10')
class ImageCifar10(_TfdsImageProblem):
  """CIFAR-10 32x32x3 from TFDS `cifar10`, in memory; label `label` (10 classes).

  Gin parameters: eval_holdout (0). Splits: train = TFDS train, test = TFDS test; eval =
  test by default (CIFAR-10 has no validation split), or with eval_holdout=K > 0 the last
  K training images (which are then left out of train).
  """

  DATASET = 'cifar10'

  def __init__(self, data_dir=None, eval_holdout=0):
    super().__init__(data_dir=data_dir)
    self.eval_holdout = int(eval_holdout)
    self._cache = {}

  @property
  def SPLITS(self):  # pylint: disable=invalid-name
    k = self.eval_holdout
    if k < 0:
      raise UserError(f'image_cifar10.eval_holdout must be >= 0, got {k}.')
    if k:
      return {'train': f'train[:-{k}]', 'eval': f'train[-{k}:]', 'test': 'test'}
    return {'train': 'train', 'eval': 'test', 'test': 'test'}

  def arrays(self, split):
    name = self.tfds_split(split)
    if name not in self._cache:
      ds = self._dataset(split).batch(4096)
      parts = list(tfds.as_numpy(ds))
      if parts:
        out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
      else:
        out = {'image': np.zeros((0,) + self.IMAGE_SHAPE, np.uint8),
               'label': np.zeros([0], np.int32)}
      self._cache[name] = out
    return self._cache[name]


@registry.register_problem('image_imagenet32')
class ImageImagenet32(_TfdsImageProblem):
  """ImageNet 32x32x3 from TFDS `imagenet_resized/32x32`, streamed; label `label` (1000).

  No gin parameters besides data_dir. Splits: train = TFDS train (1.28M images), eval =
  test = TFDS validation (50k; the test labels of ImageNet are not public).
  """

  DATASET = 'imagenet_resized/32x32'
  SPLITS = {'train': 'train', 'eval': 'validation', 'test': 'validation'}

  def examples(self, split):
    return self._dataset(split)

  def num_examples(self, split):
    return self.builder.info.splits[self.tfds_split(split)].num_examples
