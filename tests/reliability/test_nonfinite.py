"""The non-finite guard, driven by the `inject_nonfinite` fault hook at step 4.

'stop': exit 3 with one line naming the step and the term; the last checkpoint is the
one before the bad step and nothing after it is written. 'skip': the bad update is
skipped, counted (in the checkpointed `optimizer.skipped`) and reported; training
finishes. Both runs go through the trainer in one helper process (tests/in_process.py).
"""

import os
import re

import pytest

import reliability_helpers as h

STEPS = 6
BAD_STEP = 4


def _command(output_dir, *extra):
  return h.TINY + [f'--output_dir={output_dir}', f'--train_steps={STEPS}',
                   '--gin_param=train.checkpoint_every_steps=1',
                   "--gin_param=train.final_splits=('test',)",
                   '--gin_param=train.fault_hook=@inject_nonfinite',
                   f'--gin_param=inject_nonfinite.at_step={BAD_STEP}'] + list(extra)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  base = tmp_path_factory.mktemp('nonfinite')
  dirs = {'stop': str(base / 'stop'), 'skip': str(base / 'skip')}
  rows = [{'id': 'stop', 'args': _command(dirs['stop'],
                                          "--gin_param=inject_nonfinite.term='distortion'")},
          {'id': 'skip', 'args': _command(dirs['skip'], "--gin_param=train.nonfinite='skip'")}]
  results = h.run_in_process(h.TRAINER, rows, str(base))
  return {name: (dirs[name], r['status'], r['stdout'], r['stderr'])
          for name, r in results.items()}


def test_stop_exits_3_with_one_line_naming_step_and_term(runs):
  output_dir, status, out, err = runs['stop']
  assert status == 3, err[-3000:]
  assert 'Traceback' not in err
  lines = err.splitlines()
  assert len(lines) == 1, err
  assert lines[0].startswith(f'error: non-finite distortion (and loss) at step {BAD_STEP};')
  assert 'ckpt-3' in lines[0]
  assert not re.search(rf'^step {BAD_STEP}/', out, re.M)


def test_stop_keeps_the_last_good_checkpoint_and_writes_nothing_after(runs):
  output_dir, status, _, _ = runs['stop']
  assert status == 3
  latest, listed = h.checkpoint_state(output_dir)
  assert h.step_of(latest) == BAD_STEP - 1
  assert max(h.step_of(p) for p in listed) == BAD_STEP - 1
  files = os.listdir(os.path.join(output_dir, 'checkpoints'))
  assert not [f for f in files if re.match(rf'ckpt-([4-9]|\d\d)', f)], files
  assert h.metrics(output_dir) == []


def test_skip_finishes_and_reports_the_skipped_update(runs):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  output_dir, status, out, err = runs['skip']
  assert status == 0, err[-3000:]
  assert f'warning: non-finite rate (and loss) at step {BAD_STEP}; 1 update(s) skipped' in out
  assert f'warning: 1 of {STEPS} updates were skipped' in out
  record = h.last_record(output_dir)
  assert record['step'] == STEPS and record['nelbo'] == record['nelbo']   # finite
  latest, _ = h.checkpoint_state(output_dir)
  reader = tf.train.load_checkpoint(latest)
  assert int(reader.get_tensor('optimizer/skipped/.ATTRIBUTES/VARIABLE_VALUE')) == 1
  assert int(reader.get_tensor('optimizer/iterations/.ATTRIBUTES/VARIABLE_VALUE')) == STEPS
