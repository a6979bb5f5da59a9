"""The run-directory lock: exclusive while held, taken over once released, tidy."""

import json
import os

import pytest

from t2t_delta.errors import UserError
from t2t_delta.runtime import run_lock


def test_a_held_lock_refuses_others_and_names_its_holder(tmp_path):
  run = str(tmp_path / 'a' / 'run')
  first = run_lock.RunLock(run).acquire()
  assert first.created == [run, str(tmp_path / 'a')]
  with open(os.path.join(run, '.lock')) as f:
    holder = json.load(f)
  assert holder['pid'] == os.getpid() and holder['host'] and holder['command']
  for attempt in (lambda: run_lock.check_free(run),
                  lambda: run_lock.RunLock(run).acquire()):
    with pytest.raises(UserError, match=rf'is in use by another trainer \(pid {os.getpid()} '):
      attempt()
  first.release()
  assert not os.path.exists(os.path.join(run, '.lock'))
  run_lock.check_free(run)
  second = run_lock.RunLock(run).acquire()
  assert second.created == []
  second.release()


def test_a_lock_file_left_behind_is_taken_over(tmp_path):
  run = str(tmp_path / 'run')
  os.makedirs(run)
  with open(os.path.join(run, '.lock'), 'w') as f:   # as a killed trainer leaves it
    json.dump({'pid': 999999, 'host': 'elsewhere'}, f)
  run_lock.check_free(run)
  lock = run_lock.RunLock(run).acquire()
  with open(os.path.join(run, '.lock')) as f:
    assert json.load(f)['pid'] == os.getpid()
  lock.release()


def test_release_with_remove_dir_leaves_no_trace(tmp_path):
  run = str(tmp_path / 'new' / 'run')
  run_lock.RunLock(run).acquire().release(remove_dir=True)
  assert os.listdir(tmp_path) == []
