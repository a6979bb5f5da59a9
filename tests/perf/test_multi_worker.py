"""Two-worker MultiWorkerMirroredStrategy training matches a single-process run.

Two trainer processes on 127.0.0.1 (free ports picked here, one TF_CONFIG each) train
`vae_conv` on `tiny_images` for a few steps with --strategy=multi_worker; a third
process trains the same model with the same global batch and seed in one process with
two replicas (--strategy=mirrored --cpu_devices=2). Replica r draws its Monte Carlo
noise from (seed, step, r) and reads the r-th slice of the global batch in both runs,
so the two runs compute the same numbers up to the order of the cross-replica sums:
loss and rate agree to float tolerance at every step. (tests/train/
test_trainer_cli.py checks the mirrored run against one device: identical rate, loss
within the z noise.)

Each worker gets its own --output_dir: every MultiWorkerMirroredStrategy worker runs
the same program, so each one saves checkpoints and writes metrics, and two writers in
one run directory would race on `checkpoint`, `ckpt-N.*` and `metrics.jsonl`. The
chief's directory (task 0) is the canonical run.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTS = os.path.join(REPO, 'tests')
STEPS = 3
TIMEOUT = 240          # seconds for the whole group of processes (loaded CI machines)
COMMON = ['--problem=tiny_images', '--model=vae_conv', f'--train_steps={STEPS}',
          '--gin_param=train.batch_size=16', '--gin_param=train.log_every=1',
          '--gin_param=train.final_splits=()', '--gin_param=vae_conv.hidden=8',
          '--gin_param=vae_conv.latent_dim=4', '--schedule=train', '--seed=3']

# The trainer CLI with the tiny test problems registered (as conftest.run_cli does).
BOOTSTRAP = ('import sys; from t2t_delta import quiet; quiet.import_tensorflow_quietly(); '
             f'sys.path.insert(0, {TESTS!r}); import tiny_problems; '
             'import runpy; sys.argv = ["t2t_delta.train.cli"] + sys.argv[1:]; '
             'runpy.run_module("t2t_delta.train.cli", run_name="__main__")')


def _free_ports(count):
  sockets, ports = [], []
  try:
    for _ in range(count):
      s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
      s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
      s.bind(('127.0.0.1', 0))
      sockets.append(s)
      ports.append(s.getsockname()[1])
  finally:
    for s in sockets:
      s.close()
  return ports


def _start(args, env_extra, log_path):
  env = {k: v for k, v in os.environ.items() if k != 'TF_CONFIG'}
  env.update(TF_CPP_MIN_LOG_LEVEL='2', **env_extra)
  log = open(log_path, 'w')
  proc = subprocess.Popen([sys.executable, '-c', BOOTSTRAP] + args, stdout=log,
                          stderr=subprocess.STDOUT, env=env, cwd=REPO,
                          start_new_session=True)
  proc.log_path, proc.log_file = log_path, log
  return proc


def _wait_all(procs, deadline):
  """Wait for every process; on timeout or a failure, kill the rest. Returns outputs."""
  try:
    while any(p.poll() is None for p in procs):
      failed = [p for p in procs if p.poll() not in (None, 0)]
      if failed or time.time() > deadline:
        break
      time.sleep(0.2)
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()
      p.log_file.close()
  outputs = []
  for p in procs:
    with open(p.log_path) as f:
      outputs.append(f.read())
  return outputs


def _values(output, term):
  return {int(m.group(1)): float(m.group(2))
          for m in re.finditer(r'step (\d+)/\d+ .*? %s ([\d.]+)' % term, output)}


def test_two_workers_match_single_process(tmp_path):
  ports = _free_ports(2)
  cluster = {'worker': [f'127.0.0.1:{p}' for p in ports]}
  procs = []
  for index in range(2):
    tf_config = json.dumps({'cluster': cluster, 'task': {'type': 'worker', 'index': index}})
    procs.append(_start(COMMON + ['--strategy=multi_worker',
                                  f'--output_dir={tmp_path}/worker{index}'],
                        {'TF_CONFIG': tf_config}, str(tmp_path / f'worker{index}.log')))
  procs.append(_start(COMMON + ['--strategy=mirrored', '--cpu_devices=2',
                                f'--output_dir={tmp_path}/single'],
                      {}, str(tmp_path / 'single.log')))
  start = time.time()
  outputs = _wait_all(procs, start + TIMEOUT)
  elapsed = time.time() - start
  codes = [p.returncode for p in procs]
  names = ('worker 0', 'worker 1', 'single process, 2 replicas')
  report = '\n'.join(f'--- {n} (exit {c}) ---\n{o[-3000:]}'
                     for n, c, o in zip(names, codes, outputs))
  assert codes == [0, 0, 0], f'after {elapsed:.0f}s:\n{report}'

  loss = [_values(o, 'loss') for o in outputs]
  rate = [_values(o, 'rate') for o in outputs]
  steps = list(range(1, STEPS + 1))
  assert sorted(loss[0]) == sorted(loss[1]) == sorted(loss[2]) == steps, report
  for step in steps:
    for k in (1, 2):   # the other worker, then the single-process run
      assert loss[0][step] == pytest.approx(loss[k][step], rel=1e-5), (step, k, report)
      assert rate[0][step] == pytest.approx(rate[k][step], rel=1e-5), (step, k, report)

  # Each worker saved its own final checkpoint; the chief's run directory is complete.
  for index in range(2):
    ckpt_dir = tmp_path / f'worker{index}' / 'checkpoints'
    assert any(name.startswith(f'ckpt-{STEPS}.') for name in os.listdir(ckpt_dir))
