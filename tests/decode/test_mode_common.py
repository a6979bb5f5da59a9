"""Helpers shared by the decoding modes: equal-size batches, seeds, --to_file checks."""

import numpy as np
import pytest

from t2t_delta.decode import mode_common
from t2t_delta.errors import UserError


def test_batches_have_one_size():
  rows_in_batches = mode_common.rows_in_batches
  batches = list(rows_in_batches(7, 3))
  assert [count for _, _, count in batches] == [3, 3, 1]
  assert all(len(rows) == 3 for _, rows, _ in batches)
  assert [list(rows[:count]) for _, rows, count in batches] == [[0, 1, 2], [3, 4, 5], [6]]
  assert [len(rows) for _, rows, _ in rows_in_batches(2, 16)] == [2]


def test_option_seed_depends_on_seed_and_path():
  seeds = {tuple(mode_common.option_seed({'seed': s}, *path).numpy())
           for s in (0, 1) for path in ((), (1,), (1, 2), (2, 1))}
  assert len(seeds) == 8
  np.testing.assert_array_equal(mode_common.option_seed({'seed': 5}, 3),
                                mode_common.option_seed({'seed': 5}, 3))


def test_to_file_must_be_a_file_in_an_existing_directory(tmp_path):
  with pytest.raises(UserError, match='is a directory; pass a file name such as .*x.txt'):
    mode_common.check_to_file(str(tmp_path), 'x.txt')
  with pytest.raises(UserError, match='does not exist; create it first'):
    mode_common.check_to_file(str(tmp_path / 'missing' / 'x.txt'), 'x.txt')
  mode_common.check_to_file(str(tmp_path / 'x.txt'), 'x.txt')
