"""What the image and the text decoding modes share: seeds, equal-size batches and the
checks of --to_file."""

import os

import numpy as np
import tensorflow as tf

from t2t_delta import errors
from t2t_delta.errors import UserError


def option_seed(options, *path):
  """int32 [2] stateless seed for --seed and a purpose path (ints)."""
  seed = tf.constant([0, int(options['seed'])], tf.int32)
  for index in path:
    seed = tf.random.experimental.stateless_fold_in(seed, index)
  return seed


def rows_in_batches(num_rows, batch_size):
  """Yields (batch index, row indices [b], number of real rows).

  Every batch has the same size (the last is padded by repeating its first row), so the
  sampler is traced once.
  """
  batch = min(batch_size, num_rows)
  for k, start in enumerate(range(0, num_rows, batch)):
    count = min(batch, num_rows - start)
    rows = np.arange(start, start + batch)
    rows[count:] = start
    yield k, rows, count


def check_to_file(path, example_name):
  """--to_file names a writable file in an existing directory (`example_name`: the
  file name suggested when it names a directory)."""
  if os.path.isdir(path):
    raise UserError(f'--to_file={path} is a directory; pass a file name such as '
                    f'{os.path.join(path, example_name)}.')
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory):
    raise UserError(f'--to_file={path}: directory {directory} does not exist; create '
                    'it first.')
  errors.check_output_path('--to_file', path)
