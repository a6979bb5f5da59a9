"""Shared test set-up: quiet TensorFlow, tiny in-memory problems, CLI runner."""

import os
import subprocess
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import pytest  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_problems  # noqa: E402,F401  (registers tiny_images / tiny_text)
import tiny_runs  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(module, args, timeout=600, env=None, check=None):
  """Run `python -m module args` with the tiny test problems registered.

  Returns the CompletedProcess (stdout and stderr as text).
  """
  code = ('import sys; from t2t_delta import quiet; quiet.import_tensorflow_quietly(); '
          'sys.path.insert(0, %r); import tiny_problems; '
          'import runpy; sys.argv = [%r] + sys.argv[1:]; '
          'runpy.run_module(%r, run_name="__main__")'
          % (os.path.join(REPO, 'tests'), module, module))
  full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', **(env or {}))
  proc = subprocess.run([sys.executable, '-c', code] + list(args), capture_output=True,
                        text=True, timeout=timeout, env=full_env, cwd=REPO)
  if check is not None and proc.returncode != check:
    raise AssertionError(f'exit {proc.returncode} != {check}\nstdout:\n{proc.stdout}\n'
                         f'stderr:\n{proc.stderr[-3000:]}')
  return proc


@pytest.fixture(scope='session')
def cli():
  return run_cli


@pytest.fixture(scope='session')
def tiny_run(tmp_path_factory):
  """tiny_run(name, dtype='float32') -> (output_dir, Trainer) of `tiny_runs.train`,
  trained once per session and shared by the tests that read it."""
  cache = {}

  def get(name, dtype='float32'):
    if (name, dtype) not in cache:
      out = str(tmp_path_factory.mktemp(f'tiny_{name}_{dtype}'))
      cache[name, dtype] = (out, tiny_runs.train(out, name, dtype))
    return cache[name, dtype]

  return get

