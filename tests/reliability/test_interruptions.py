"""Kills at random moments (SIGKILL, also during checkpoint writes) and SIGTERM.

One scenario is shared by the tests of this module: a run of STEPS steps with a
checkpoint at every step is interrupted three times (SIGKILL at a random moment,
SIGKILL while a checkpoint is being written, SIGTERM), each time restarted with the
same command, and finally run to completion; an uninterrupted run with the same
command runs alongside as the reference. Because the data position and the random
stream are functions of (seed, step) and the checkpoint holds the model, the optimizer
slots and the step, the interrupted run must end with exactly the reference's metrics.
"""

import glob
import os
import random
import re
import signal
import time

import pytest

import reliability_helpers as h

STEPS = 40
SEED = 3


def _command(output_dir):
  return h.TINY + [f'--output_dir={output_dir}', f'--train_steps={STEPS}', f'--seed={SEED}',
                   '--gin_param=train.checkpoint_every_steps=1',
                   '--gin_param=train.keep_checkpoint_max=3',
                   "--gin_param=train.final_splits=('test',)"]


def _read_until_step(proc, extra_steps, lines):
  """Read stdout until `extra_steps` step lines after the first one; False at EOF."""
  seen = -1
  for line in proc.stdout:
    lines.append(line)
    if re.match(r'step \d+/', line):
      seen += 1
      if seen >= extra_steps:
        return True
  return False


def _wait_for_checkpoint_write(ckpt_dir, timeout):
  """Poll until a checkpoint write is in progress (TensorFlow's ckpt-N_temp folder)."""
  deadline = time.time() + timeout
  while time.time() < deadline:
    if glob.glob(os.path.join(glob.escape(ckpt_dir), 'ckpt-*_temp*')):
      return True
    time.sleep(0.0005)
  return False


def _interrupt(proc, how, rng, ckpt_dir):
  """Interrupt `proc` after it has trained a few steps; returns a record of it."""
  lines = []
  alive = _read_until_step(proc, rng.randint(0, 3), lines)
  record = {'how': how, 'during_save': None}
  if alive:
    if how == 'kill_during_save':
      record['during_save'] = _wait_for_checkpoint_write(ckpt_dir, timeout=5.0)
      proc.send_signal(signal.SIGKILL)
    elif how == 'kill':
      time.sleep(rng.uniform(0.0, 0.3))
      proc.send_signal(signal.SIGKILL)
    else:
      time.sleep(rng.uniform(0.0, 0.3))
      proc.send_signal(signal.SIGTERM)
  status, out, err = h.finish(proc)
  record.update(status=status, stdout=''.join(lines) + out, stderr=err)
  latest, listed = h.checkpoint_state(os.path.dirname(ckpt_dir))
  record['latest'], record['listed'] = latest, listed
  record['ckpt_files'] = sorted(os.listdir(ckpt_dir)) if os.path.isdir(ckpt_dir) else []
  return record


@pytest.fixture(scope='module')
def scenario(tmp_path_factory):
  base = tmp_path_factory.mktemp('interrupt')
  reference_dir, run = str(base / 'reference'), str(base / 'run')
  ckpt_dir = os.path.join(run, 'checkpoints')
  reference = h.start(h.TRAINER, _command(reference_dir))
  rng = random.Random(1234)
  interruptions = []
  for how in ('kill', 'kill_during_save', 'sigterm'):
    interruptions.append(_interrupt(h.start(h.TRAINER, _command(run)), how, rng, ckpt_dir))
  leftovers = sorted(os.listdir(ckpt_dir))
  final = h.finish(h.start(h.TRAINER, _command(run)))
  ref = h.finish(reference)
  return {'run': run, 'reference': reference_dir, 'interruptions': interruptions,
          'final': final, 'ref': ref, 'leftovers_before_final': leftovers}


def test_interrupted_run_finishes_with_the_right_step(scenario):
  status, out, err = scenario['final']
  assert status == 0, err[-3000:]
  assert 'resuming from' in out
  record = h.last_record(scenario['run'])
  assert record is not None and record['step'] == STEPS
  latest, _ = h.checkpoint_state(scenario['run'])
  assert h.step_of(latest) == STEPS


def test_interrupted_run_matches_uninterrupted_run_exactly(scenario):
  status, _, err = scenario['ref']
  assert status == 0, err[-3000:]
  assert scenario['final'][0] == 0
  reference = [r for r in h.metrics(scenario['reference'])]
  interrupted = [r for r in h.metrics(scenario['run'])]
  # Same final record, bit for bit (a kill during the final evaluation could only add
  # an identical duplicate, so compare the last test record).
  assert h.last_record(scenario['run']) == h.last_record(scenario['reference'])
  assert reference and interrupted


def test_every_listed_checkpoint_restores(scenario):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  latest, listed = h.checkpoint_state(scenario['run'])
  assert latest in listed and 1 <= len(listed) <= 3
  for path in listed:
    reader = tf.train.load_checkpoint(path)
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)   # reads (and checksums) every tensor
  files = os.listdir(os.path.join(scenario['run'], 'checkpoints'))
  assert not [f for f in files if '_temp' in f], files
  assert not [f for f in os.listdir(scenario['run']) if f.startswith('.tmp-')]


def test_each_restart_resumed_from_a_checkpoint_it_could_load(scenario):
  records = scenario['interruptions']
  for previous, current in zip(records, records[1:]):
    if previous['latest'] is None:
      continue
    assert 'Traceback' not in current['stderr'], current['stderr'][-3000:]
    match = re.search(r'resuming from (\S+) at step (\d+) of', current['stdout'])
    assert match, current['stdout']
    # Listed checkpoints are complete, so the newest listed one is the one resumed.
    assert h.step_of(match.group(1)) == int(match.group(2)) == h.step_of(previous['latest'])


def test_sigkill_leaves_no_half_checkpoint_selected(scenario):
  # The second kill landed while TensorFlow was writing a checkpoint.
  during_save = scenario['interruptions'][1]
  assert during_save['during_save'], 'no checkpoint write was caught in progress'
  for record in scenario['interruptions'][:2]:
    assert record['status'] == -signal.SIGKILL, record
    if record['latest']:
      # The state file only ever names checkpoints whose index and data exist.
      name = os.path.basename(record['latest'])
      assert f'{name}.index' in record['ckpt_files'], record['ckpt_files']


def test_sigterm_saves_a_checkpoint_and_exits_143(scenario):
  record = scenario['interruptions'][2]
  assert record['status'] == 143, (record['stdout'][-2000:], record['stderr'][-2000:])
  assert 'Traceback' not in record['stderr']
  match = re.search(r'SIGTERM received: saved (\S+) at step (\d+); rerun the same command '
                    'to resume\\.', record['stdout'])
  assert match, record['stdout'][-2000:]
  step = int(match.group(2))
  steps_printed = [int(s) for s in re.findall(r'^step (\d+)/', record['stdout'], re.M)]
  assert steps_printed and step == steps_printed[-1]
  assert h.step_of(match.group(1)) == step
  assert h.step_of(record['latest']) == step
  assert f'ckpt-{step}.index' in record['ckpt_files']
