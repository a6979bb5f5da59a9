"""The output directory of a run and what lives in it.

    OUTPUT_DIR/
      run.json          problem, model, seed, data_dir: checked when a run resumes
      config.gin        operative gin config, written after the first step (decoder reads it)
      checkpoints/      tf.train.CheckpointManager: ckpt-N.index / .data-*, `checkpoint`
                        (see `checkpoints.py`)
      metrics.jsonl     one JSON object per evaluation
      summaries/        TensorBoard event files (train/, eval/, test/)
      .lock             held by the trainer of the run (`run_lock.py`)

Only the trainer writes here, except for the records t2t-delta-eval appends to
metrics.jsonl (and the pictures the decoder writes when it has no --to_file).
Crash safety: run.json, config.gin and the checkpoint state file are replaced
atomically and metrics.jsonl is append-only (`files.py`).
"""

import glob
import json
import os
import shutil

from t2t_delta.errors import UserError
from t2t_delta.runtime import files

RUN_FILE = 'run.json'
CONFIG_FILE = 'config.gin'
CHECKPOINT_DIR = 'checkpoints'
METRICS_FILE = 'metrics.jsonl'
SUMMARY_DIR = 'summaries'


def remove_stale_temporaries(output_dir):
  """Delete temporary files left by a writer that was killed (`.tmp-*`, `ckpt-*_temp`).

  For the trainer only, under the run's lock: to anyone else these are the files of a
  live trainer's write in progress.
  """
  for path in glob.glob(os.path.join(glob.escape(output_dir), files.TMP_PREFIX + '*')):
    if os.path.isfile(path):
      os.remove(path)
  ckpt_dir = checkpoint_dir(output_dir)
  for path in glob.glob(os.path.join(glob.escape(ckpt_dir), '*_temp*')):
    if os.path.isdir(path):
      shutil.rmtree(path, ignore_errors=True)
    elif os.path.isfile(path):
      os.remove(path)


# ---- run.json ------------------------------------------------------------------------
def read_run_info(output_dir):
  """The run's run.json as a dict, or None if it has none (UserError if unreadable)."""
  path = os.path.join(output_dir, RUN_FILE)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      info = json.load(f)
  except (OSError, ValueError) as e:
    raise UserError(f'{path} cannot be read ({" ".join(str(e).split())}); it is not a '
                    't2t_delta run file: choose another --output_dir.') from None
  if not isinstance(info, dict):
    raise UserError(f'{path} is not a t2t_delta run file (expected a JSON object); '
                    'choose another --output_dir.')
  return info


def check_compatible(output_dir, problem, model):
  """UserError if `output_dir` cannot hold this run (a file, another run, ...)."""
  if os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise UserError(f'--output_dir={output_dir} is a file, not a directory; choose a '
                    'directory (it is created if missing).')
  parent = os.path.dirname(os.path.abspath(output_dir))
  nearest = output_dir if os.path.isdir(output_dir) else parent
  while not os.path.isdir(nearest) and os.path.dirname(nearest) != nearest:
    if os.path.exists(nearest):
      raise UserError(f'--output_dir={output_dir} cannot be created: {nearest} is a '
                      'file; choose another --output_dir.')
    nearest = os.path.dirname(nearest)
  if not os.access(nearest, os.W_OK | os.X_OK):
    raise UserError(f'--output_dir={output_dir} is not writable ({nearest} denies '
                    'write access); choose another --output_dir.')
  info = read_run_info(output_dir)
  if info is None:
    if os.path.isdir(os.path.join(output_dir, CHECKPOINT_DIR)):
      raise UserError(f'--output_dir={output_dir} holds checkpoints but no {RUN_FILE}; '
                      'it is not a t2t_delta run: choose another --output_dir.')
    return
  if info.get('problem') != problem or info.get('model') != model:
    raise UserError(
        f"--output_dir={output_dir} holds a run of --problem={info.get('problem')} "
        f"--model={info.get('model')}, not --problem={problem} --model={model}; "
        'choose another --output_dir or pass the same problem and model to resume.')


def write_run_info(output_dir, info):
  """Atomically (re)write run.json (the trainer, after the first step of a run)."""
  os.makedirs(output_dir, exist_ok=True)
  files.atomic_write(os.path.join(output_dir, RUN_FILE), json.dumps(info, indent=2) + '\n')


# ---- checkpoints/ --------------------------------------------------------------------
def checkpoint_dir(output_dir):
  return os.path.join(output_dir, CHECKPOINT_DIR)


# ---- the other files -----------------------------------------------------------------
def config_path(output_dir):
  return os.path.join(output_dir, CONFIG_FILE)


def metrics_path(output_dir):
  return os.path.join(output_dir, METRICS_FILE)


def summary_dir(output_dir, split):
  return os.path.join(output_dir, SUMMARY_DIR, split)
