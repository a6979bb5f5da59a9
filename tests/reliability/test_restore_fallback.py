"""Restoring from damaged run directories (in-process, deterministic damage).

A hard kill can only leave the states of the first few cases (TensorFlow records a
checkpoint after writing it); the others stand for disk trouble or manual edits. In
every case the trainer must resume from the newest checkpoint that loads, never from a
partial one, say so, and leave a state file whose every entry loads.
"""

import os
import shutil

import gin
import numpy as np
import pytest
import tensorflow as tf

from t2t_delta import registry
from t2t_delta.errors import UserError
from t2t_delta.runtime import files, gin_config, run_dir
from t2t_delta.train import strategies
from t2t_delta.train import trainer as trainer_lib

import reliability_helpers as h

BINDINGS = ['train.batch_size = 8', 'vae_conv.hidden = 8', 'vae_conv.latent_dim = 4',
            'train.steps = 3', 'train.checkpoint_every_steps = 1', 'train.log_every = 0',
            'train.final_splits = ()', 'train.keep_checkpoint_max = 5']


def _trainer(output_dir, extra=()):
  gin_config.parse_gin(gin_params=BINDINGS + list(extra))
  problem = registry.problem('tiny_images')()
  return trainer_lib.Trainer(problem, registry.model('vae_conv'), output_dir,
                             strategies.make_strategy('cpu'), seed=0,
                             config=trainer_lib.TrainConfig())


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  out = str(tmp_path_factory.mktemp('fallback') / 'run')
  try:
    _trainer(out).train(evaluate=False)
    yield out
  finally:
    gin.clear_config()


@pytest.fixture
def run(trained, tmp_path):
  copy = str(tmp_path / 'run')
  shutil.copytree(trained, copy)
  yield copy
  gin.clear_config()


def _ckpt(run, step):
  return os.path.join(run, 'checkpoints', f'ckpt-{step}')


def _data_file(run, step):
  return _ckpt(run, step) + '.data-00000-of-00001'


def _assert_weights_of(trainer, prefix):
  reader = tf.train.load_checkpoint(prefix)
  step = reader.get_tensor('optimizer/iterations/.ATTRIBUTES/VARIABLE_VALUE')
  assert trainer.step == int(step)
  for name in reader.get_variable_to_shape_map():
    if name.startswith('model/') and name.endswith('VARIABLE_VALUE'):
      break
  value = reader.get_tensor(name)
  path = name[len('model/'):-len('/.ATTRIBUTES/VARIABLE_VALUE')].split('/')
  obj = trainer.model
  for part in path:
    obj = obj[int(part)] if isinstance(obj, (list, tuple)) else getattr(obj, part)
  np.testing.assert_array_equal(obj.numpy(), value)


def _assert_state_loads(run):
  latest, listed = h.checkpoint_state(run)
  assert latest in listed
  for path in listed:
    reader = tf.train.load_checkpoint(path)
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)
  return latest, listed


def _damage_truncate(run):
  with open(_data_file(run, 3), 'r+b') as f:
    f.truncate(os.path.getsize(_data_file(run, 3)) // 2)


def _damage_corrupt_bytes(run):
  size = os.path.getsize(_data_file(run, 3))
  with open(_data_file(run, 3), 'r+b') as f:
    f.seek(size // 3)
    f.write(b'\xff' * 64)


def _damage_missing_index(run):
  os.remove(_ckpt(run, 3) + '.index')


def _damage_missing_data(run):
  os.remove(_data_file(run, 3))


def _damage_state_names_missing(run):
  with open(os.path.join(run, 'checkpoints', 'checkpoint'), 'a') as f:
    f.write('all_model_checkpoint_paths: "ckpt-9"\n')
  text = open(os.path.join(run, 'checkpoints', 'checkpoint')).read()
  text = text.replace('model_checkpoint_path: "ckpt-3"', 'model_checkpoint_path: "ckpt-9"')
  with open(os.path.join(run, 'checkpoints', 'checkpoint'), 'w') as f:
    f.write(text)


@pytest.mark.parametrize('damage,expected_step,train_on', [
    (_damage_truncate, 2, True),
    (_damage_corrupt_bytes, 2, False),
    (_damage_missing_index, 2, False),
    (_damage_missing_data, 2, False),
    (_damage_state_names_missing, 3, False),
])
def test_restore_falls_back_to_newest_loadable_checkpoint(run, damage, expected_step,
                                                         train_on, capsys):
  damage(run)
  trainer = _trainer(run)
  restored = trainer.restore()
  assert restored == _ckpt(run, expected_step)
  _assert_weights_of(trainer, restored)
  assert 'warning: cannot restore checkpoint' in capsys.readouterr().out
  latest, listed = _assert_state_loads(run)
  assert latest == restored
  if not train_on:
    return
  # Training on from the fallback overwrites the damaged checkpoint with a good one.
  trainer.train(evaluate=False)
  latest, listed = _assert_state_loads(run)
  assert h.step_of(latest) == 3


def test_half_deleted_old_checkpoint_is_dropped_from_the_state(run):
  # A kill while the manager deletes the oldest checkpoint (index first, then data).
  os.remove(_ckpt(run, 1) + '.index')
  trainer = _trainer(run)
  assert trainer.restore() == _ckpt(run, 3)
  _, listed = _assert_state_loads(run)
  assert [h.step_of(p) for p in listed] == [2, 3]


def test_unreadable_state_file_uses_checkpoints_on_disk(run, capsys):
  with open(os.path.join(run, 'checkpoints', 'checkpoint'), 'w') as f:
    f.write('model_checkpoint_path: "ckpt-3\nall_model_checkp')
  trainer = _trainer(run)
  assert trainer.restore() == _ckpt(run, 3)
  assert 'cannot be parsed' in capsys.readouterr().out
  _assert_state_loads(run)


def test_leftovers_of_killed_writers_are_removed(run):
  temp = os.path.join(run, 'checkpoints', 'ckpt-4_temp')
  os.makedirs(temp)
  with open(os.path.join(temp, 'part-00000-of-00001.data-00000-of-00001'), 'wb') as f:
    f.write(b'partial')
  with open(os.path.join(run, '.tmp-abc123'), 'w') as f:
    f.write('partial config')
  # An index and data of a newer, unlisted checkpoint cut short mid-write.
  with open(_ckpt(run, 4) + '.index', 'wb') as f:
    f.write(b'\x00' * 10)
  trainer = _trainer(run)
  assert trainer.restore() == _ckpt(run, 3)
  assert not os.path.exists(temp)
  assert not os.path.exists(os.path.join(run, '.tmp-abc123'))


def test_no_loadable_checkpoint_is_a_user_error(run):
  for step in (1, 2, 3):
    _damage_missing_data_at(run, step)
  with pytest.raises(UserError, match='no checkpoint in .* can be restored'):
    _trainer(run).restore()


def _damage_missing_data_at(run, step):
  with open(_data_file(run, step), 'r+b') as f:
    f.truncate(10)


def test_changed_model_config_is_a_user_error(run):
  with pytest.raises(UserError, match='model or its gin bindings changed'):
    _trainer(run, ['vae_conv.hidden = 4']).restore()


def test_partial_last_metrics_record_is_dropped_and_later_records_parse(run):
  path = os.path.join(run, run_dir.METRICS_FILE)
  files.append_jsonl(path, {'split': 'eval', 'step': 1, 'nelbo': 1.0})
  with open(path, 'a') as f:
    f.write('{"split": "eval", "step": 2, "nel')       # killed mid-write
  assert files.read_jsonl(path) == [{'split': 'eval', 'step': 1, 'nelbo': 1.0}]
  files.append_jsonl(path, {'split': 'eval', 'step': 2, 'nelbo': 2.0})
  assert [r['step'] for r in h.metrics(run)] == [1, 2]
