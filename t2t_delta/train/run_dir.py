"""The output directory of a run and what lives in it.

    OUTPUT_DIR/
      run.json          problem, model, seed, data_dir: checked when a run resumes
      config.gin        operative gin config, written after the first step (decoder reads it)
      checkpoints/      tf.train.CheckpointManager: ckpt-N.index / .data-*, `checkpoint`
      metrics.jsonl     one JSON object per evaluation
      summaries/        TensorBoard event files (train/, eval/, test/)
"""

import json
import os
import tempfile

from t2t_delta.errors import UserError

RUN_FILE = 'run.json'
CONFIG_FILE = 'config.gin'
CHECKPOINT_DIR = 'checkpoints'
METRICS_FILE = 'metrics.jsonl'
SUMMARY_DIR = 'summaries'


def atomic_write(path, text):
  """Write `text` to `path` via a temporary file and rename (never half-written)."""
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp-')
  with os.fdopen(fd, 'w') as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def read_run_info(output_dir):
  path = os.path.join(output_dir, RUN_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def check_compatible(output_dir, problem, model):
  """UserError if `output_dir` holds a run of another problem or model."""
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
  os.makedirs(output_dir, exist_ok=True)
  atomic_write(os.path.join(output_dir, RUN_FILE), json.dumps(info, indent=2) + '\n')


def checkpoint_dir(output_dir):
  return os.path.join(output_dir, CHECKPOINT_DIR)
