"""Resource failures and concurrent trainers: one error line each, nothing half-done.

* A full disk while a checkpoint is written (simulated with the file-size limit,
  RLIMIT_FSIZE: writes beyond it fail like writes to a full disk): one error line,
  the previous checkpoint stays the latest and loads, the same command resumes.
* Unwritable outputs of the decoder and the report: refused before any work.
* Flags that used to be accepted silently: `t2t-delta-eval --batch_size=0`, checked
  before TensorFlow is imported.
* One trainer per run directory: a second trainer on a directory in use is refused
  with the first one's pid; after kill -9 of the first, a rerun at once takes the
  stale lock over and resumes.
* SIGTERM during the final evaluation: exit status 143, 'stopped at step N', and
  training again finishes the evaluation.
"""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

import reliability_helpers as h

EVALUATOR = 't2t_delta.evaluate.cli'


def _one_error_line(status, stderr, *expected):
  assert status == 2, stderr
  assert 'Traceback' not in stderr, stderr
  lines = stderr.splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), stderr
  for text in expected:
    assert text in lines[0], lines[0]
  return lines[0]


# ---- full disk ----------------------------------------------------------------------
@pytest.fixture(scope='module')
def full_disk(tmp_path_factory):
  base = tmp_path_factory.mktemp('full_disk')
  run = str(base / 'run')
  command = h.TINY + [f'--output_dir={run}', '--gin_param=train.checkpoint_every_steps=2',
                      "--gin_param=train.final_splits=('test',)"]
  rows = [{'id': 'first', 'args': command + ['--train_steps=2']},
          # Checkpoints of this model are ~0.7 MB: the one at step 4 cannot be written.
          {'id': 'full', 'args': command + ['--train_steps=4'], 'file_size_limit': 200_000},
          {'id': 'again', 'args': command + ['--train_steps=4']}]
  results = h.run_in_process(h.TRAINER, rows, str(base))
  return run, results


def test_full_disk_while_checkpointing_is_one_error_line(full_disk):
  run, results = full_disk
  assert results['first']['status'] == 0, results['first']['stderr']
  full = results['full']
  line = _one_error_line(full['status'], full['stderr'], 'cannot write checkpoint',
                         'ckpt-4', 'rerun the same command', 'ckpt-2')
  assert 'file too large' in line or 'no space left' in line


def test_after_a_full_disk_the_same_command_resumes(full_disk):
  run, results = full_disk
  again = results['again']
  assert again['status'] == 0, again['stderr'][-3000:]
  assert re.search(r'resuming from \S+ckpt-2 at step 2 of 4', again['stdout'])
  latest, _ = h.checkpoint_state(run)
  assert h.step_of(latest) == 4
  assert h.last_record(run)['step'] == 4


def test_full_disk_while_writing_metrics_is_one_error_line(tmp_path):
  """In this process: metrics.jsonl is past the file-size limit, so appending the
  evaluation record fails the way a full disk does."""
  import resource  # pylint: disable=g-import-not-at-top
  from t2t_delta.errors import UserError  # pylint: disable=g-import-not-at-top
  out = str(tmp_path / 'run')
  trainer = _tiny_trainer(out)
  trainer.train(evaluate=False)
  metrics_path = os.path.join(out, 'metrics.jsonl')
  with open(metrics_path, 'w') as f:
    f.write('{"split": "eval", "step": 1}\n' * 4000)    # ~120 kB
  size = os.path.getsize(metrics_path)
  previous = resource.getrlimit(resource.RLIMIT_FSIZE)
  handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
  resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, previous[1]))
  try:
    with pytest.raises(UserError) as info:
      trainer._record_eval('test', {})  # pylint: disable=protected-access
  finally:
    resource.setrlimit(resource.RLIMIT_FSIZE, previous)
    signal.signal(signal.SIGXFSZ, handler)
  message = str(info.value)
  assert '\n' not in message
  assert message.startswith(f'cannot write {metrics_path} (file too large')
  assert 'rerun the same command (it resumes from' in message and 'ckpt-2' in message
  assert os.path.getsize(metrics_path) == size


# ---- unwritable outputs and flag bounds ------------------------------------------------
def test_report_refuses_an_unwritable_out_before_reading_runs(tmp_path):
  target = os.path.join(h.unwritable_directory(str(tmp_path)), 'report')
  proc = subprocess.run([sys.executable, '-m', 't2t_delta.evaluate.report',
                         str(tmp_path / 'no_such_run'), f'--out={target}'],
                        capture_output=True, text=True, cwd=h.REPO, env=h.env(),
                        timeout=120)
  _one_error_line(proc.returncode, proc.stderr, f'--out={target} cannot be written',
                  'permission denied', 'choose another --out')
  assert not os.path.exists(target)


@pytest.mark.parametrize('flag', ['--batch_size=0', '--nll_chunk=0', '--max_examples=0'])
def test_evaluator_refuses_meaningless_zero_before_loading_anything(tmp_path, flag):
  proc = subprocess.run([sys.executable, '-m', EVALUATOR, f'--output_dir={tmp_path}', flag],
                        capture_output=True, text=True, cwd=h.REPO, env=h.env(),
                        timeout=120)
  _one_error_line(proc.returncode, proc.stderr, f'{flag} must be >= 1',
                  'omit it for the default')


# ---- one trainer per run directory ------------------------------------------------------
def _wait_for_line(proc, pattern, lines):
  """Read stdout lines until one matches `pattern`; False at EOF."""
  for line in proc.stdout:
    lines.append(line)
    if re.search(pattern, line):
      return True
  return False


@pytest.fixture(scope='module')
def contention(tmp_path_factory):
  """A long run; a second trainer on its directory; kill -9 of the first; a rerun at
  once that trains two more steps and finishes."""
  run = str(tmp_path_factory.mktemp('contention') / 'run')
  common = h.TINY + [f'--output_dir={run}', '--gin_param=train.checkpoint_every_steps=1',
                     "--gin_param=train.final_splits=('test',)"]
  out = {'run': run}
  first = h.start(h.TRAINER, common + ['--train_steps=100000'])
  lines = []
  assert _wait_for_line(first, r'^step 2/', lines), ''.join(lines)
  started = time.time()
  out['second'] = h.finish(h.start(h.TRAINER, common + ['--train_steps=100000']))
  out['second_seconds'] = time.time() - started
  out['first_pid'] = first.pid
  first.send_signal(signal.SIGKILL)
  first.wait()
  latest, _ = h.checkpoint_state(run)
  out['killed_at'] = h.step_of(latest)
  out['target'] = out['killed_at'] + 2
  out['rerun'] = h.finish(h.start(h.TRAINER, common + [f'--train_steps={out["target"]}']))
  return out


def test_second_trainer_on_a_busy_directory_is_refused(contention):
  status, stdout, stderr = contention['second']
  _one_error_line(status, stderr, 'is in use by another trainer',
                  f"pid {contention['first_pid']}", 'choose another --output_dir')
  assert stdout == ''


def test_rerun_right_after_kill_9_takes_the_stale_lock_over(contention):
  status, stdout, stderr = contention['rerun']
  assert status == 0, stdout[-3000:] + stderr[-3000:]
  assert f"at step {contention['killed_at']} of" in stdout and 'resuming from' in stdout
  assert h.last_record(contention['run'])['step'] == contention['target']
  assert not os.path.exists(os.path.join(contention['run'], '.lock'))


# ---- SIGTERM during the final evaluation ---------------------------------------------------
def test_sigterm_during_the_final_evaluation_stops_with_143(tmp_path, capsys):
  """In this process: the signal arrives between two batches of the final evaluation
  (sent by the evaluation step itself), the trainer exits 143 with 'stopped at step
  N', and train() again finishes the evaluation."""
  out = str(tmp_path / 'run')
  trainer = _tiny_trainer(out)
  calls = []
  build_eval_step = trainer._build_eval_step  # pylint: disable=protected-access

  def build_signalling_eval_step():
    step = build_eval_step()

    def eval_step(features):
      calls.append(1)
      if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGTERM)
      return step(features)
    return eval_step

  trainer._build_eval_step = build_signalling_eval_step  # pylint: disable=protected-access
  with pytest.raises(SystemExit) as stopped:
    trainer.train()
  assert stopped.value.code == h.SIGNAL_STATUS[signal.SIGTERM]
  assert 'SIGTERM received: stopped at step 2' in capsys.readouterr().out
  assert len(calls) == 3 and not h.metrics(out)
  assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(
      signal.getsignal(signal.SIGTERM))
  records = _tiny_trainer(out).train()
  assert [r['split'] for r in records] == ['eval', 'test']
  assert [r['step'] for r in h.metrics(out)] == [2, 2]


def _tiny_trainer(output_dir):
  # pylint: disable=g-import-not-at-top
  import gin
  from t2t_delta import registry
  from t2t_delta.runtime import gin_config
  from t2t_delta.train import strategies
  from t2t_delta.train import trainer as trainer_lib
  gin_config.parse_gin(gin_params=['train.steps = 2', 'train.batch_size = 8',
                                   'train.log_every = 0', 'vae_conv.hidden = 8',
                                   'vae_conv.latent_dim = 4'])
  try:
    return trainer_lib.Trainer(registry.problem('tiny_images')(), registry.model('vae_conv'),
                               output_dir, strategies.make_strategy('cpu'))
  finally:
    gin.clear_config()
