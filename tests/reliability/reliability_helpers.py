"""Shared pieces of the reliability tests: CLI processes, run directories, snapshots."""

import json
import os
import signal
import subprocess
import sys

import in_process

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
REPO = os.path.dirname(TESTS)
TRAINER = 't2t_delta.train.cli'
DECODER = 't2t_delta.decode.cli'

# Tiny, fast configuration (vae_conv on 8x8x3 images).
TINY = ['--problem=tiny_images', '--model=vae_conv', '--gin_param=train.batch_size=8',
        '--gin_param=vae_conv.hidden=8', '--gin_param=vae_conv.latent_dim=4',
        '--gin_param=train.log_every=1']


def bootstrap(module):
  """`python -c` code that runs `module` as __main__ with the tiny problems registered.

  The same start-up as the `cli` fixture of tests/conftest.py.
  """
  return ('import sys; from t2t_delta import quiet; quiet.import_tensorflow_quietly(); '
          'sys.path.insert(0, %r); import tiny_problems; '
          'import runpy; sys.argv = [%r] + sys.argv[1:]; '
          'runpy.run_module(%r, run_name="__main__")' % (TESTS, module, module))


def env():
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONUNBUFFERED='1')


def start(module, args, **kwargs):
  """Popen of the CLI `module` with text stdout/stderr pipes."""
  return subprocess.Popen([sys.executable, '-c', bootstrap(module)] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env(), cwd=REPO, **kwargs)


def finish(proc, timeout=600):
  """(returncode, stdout, stderr) of a started process."""
  try:
    out, err = proc.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    proc.kill()
    out, err = proc.communicate()
    raise AssertionError(f'timed out\nstdout:\n{out}\nstderr:\n{err[-3000:]}')
  return proc.returncode, out, err


def run_in_process(module, rows, work_dir):
  """Run [{'id', 'args'}] rows in one process (tests/in_process.py); id -> result."""
  return in_process.run(module, rows, work_dir)


def snapshot(root):
  """{relative path: (kind, size, mtime_ns, mode)} of everything under `root`."""
  if not os.path.exists(root):
    return None
  state = {}
  for directory, dirs, files in os.walk(root):
    for name in dirs + files:
      path = os.path.join(directory, name)
      st = os.lstat(path)
      kind = 'dir' if name in dirs else 'file'
      state[os.path.relpath(path, root)] = (kind, 0 if kind == 'dir' else st.st_size,
                                            st.st_mtime_ns, st.st_mode)
  st = os.lstat(root)
  state['.'] = ('dir', 0, st.st_mtime_ns, st.st_mode)
  return state


def metrics(output_dir):
  path = os.path.join(output_dir, 'metrics.jsonl')
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def last_record(output_dir, split='test'):
  records = [r for r in metrics(output_dir) if r['split'] == split]
  return records[-1] if records else None


def checkpoint_state(output_dir):
  """(latest path, all listed paths) from checkpoints/checkpoint, absolute."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  directory = os.path.join(output_dir, 'checkpoints')
  state = tf.train.get_checkpoint_state(directory)
  if state is None:
    return None, []
  return state.model_checkpoint_path, list(state.all_model_checkpoint_paths)


def step_of(path):
  return int(path.rsplit('-', 1)[1])


def unwritable_directory(base):
  """A directory that refuses new files: read-only permissions, or (for the
  superuser, whom permissions do not stop) sysfs, which refuses them to everyone."""
  if os.geteuid() == 0:
    return '/sys'
  path = os.path.join(base, 'read_only')
  os.makedirs(path)
  os.chmod(path, 0o555)
  return path


SIGNAL_STATUS = {signal.SIGTERM: 143, signal.SIGINT: 130}
