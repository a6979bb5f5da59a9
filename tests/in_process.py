"""Command lines of one tool run in one Python process (see in_process_runner.py).

Each TensorFlow start-up costs seconds, so tests that run several command lines of a
tool pass them as rows to one helper process, which runs each row through the tool's
own flag parsing and `_main`, exactly as the binary does after importing TensorFlow.
"""

import json
import os
import subprocess
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)


def start(module, rows, work_dir, mkdir=False):
  """Start a helper process for rows [{'id', 'args'[, 'file_size_limit']}] of
  `module`; `finish` returns their results. `work_dir` holds the row and result files
  (created with `mkdir`)."""
  if mkdir:
    os.makedirs(work_dir, exist_ok=True)
  rows_path = os.path.join(work_dir, 'rows.json')
  results_path = os.path.join(work_dir, 'results.json')
  with open(rows_path, 'w') as f:
    json.dump(rows, f)
  path = os.pathsep.join(p for p in (REPO, os.environ.get('PYTHONPATH')) if p)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONUNBUFFERED='1', PYTHONPATH=path)
  proc = subprocess.Popen(
      [sys.executable, os.path.join(TESTS, 'in_process_runner.py'), module, rows_path,
       results_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
      cwd=REPO)
  return proc, results_path


def finish(started, timeout=1200):
  """{id: {'status', 'stdout', 'stderr', 'seconds'}} of a `start`ed helper process."""
  proc, results_path = started
  stdout, stderr = proc.communicate(timeout=timeout)
  if proc.returncode != 0 or not os.path.exists(results_path):
    raise AssertionError(f'in-process runner failed ({proc.returncode}):\n'
                         f'{stdout}\n{stderr[-3000:]}')
  with open(results_path) as f:
    return json.load(f)


def run(module, rows, work_dir, mkdir=False):
  """`start` and `finish`: the rows' results."""
  return finish(start(module, rows, work_dir, mkdir))
