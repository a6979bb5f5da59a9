"""The output directory of a run and what lives in it.

    OUTPUT_DIR/
      run.json          problem, model, seed, data_dir: checked when a run resumes
      config.gin        operative gin config, written after the first step (decoder reads it)
      checkpoints/      tf.train.CheckpointManager: ckpt-N.index / .data-*, `checkpoint`
      metrics.jsonl     one JSON object per evaluation
      summaries/        TensorBoard event files (train/, eval/, test/)

Crash safety. run.json, config.gin and the checkpoint state file are replaced
atomically (temporary file, fsync, rename), so a reader sees the old or the new
version, never a mix. metrics.jsonl is append-only with one fsync per record; a record
cut short by a hard kill is removed before the next append (`repair_jsonl`) and skipped
by `read_jsonl`. A checkpoint becomes visible only when TensorFlow records it in the
`checkpoint` state file after writing its data and index; the helpers at the end of
this module let the trainer check that a listed checkpoint is complete and rewrite the
state file when one is not.
"""

import glob
import json
import os
import re
import shutil
import tempfile
import time

from t2t_delta.errors import UserError

RUN_FILE = 'run.json'
CONFIG_FILE = 'config.gin'
CHECKPOINT_DIR = 'checkpoints'
CHECKPOINT_STATE = 'checkpoint'
METRICS_FILE = 'metrics.jsonl'
SUMMARY_DIR = 'summaries'
_TMP_PREFIX = '.tmp-'


def _umask():
  mask = os.umask(0)
  os.umask(mask)
  return mask


def _fsync_dir(directory):
  try:
    fd = os.open(directory, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass
  finally:
    os.close(fd)


def atomic_write(path, text):
  """Write `text` to `path` via a temporary file and rename (never half-written)."""
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=_TMP_PREFIX)
  try:
    with os.fdopen(fd, 'w') as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp, 0o666 & ~_umask())   # mkstemp creates 0600 files
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
  _fsync_dir(directory)


def remove_stale_temporaries(output_dir):
  """Delete temporary files left by a writer that was killed (`.tmp-*`, `ckpt-*_temp`)."""
  for path in glob.glob(os.path.join(glob.escape(output_dir), _TMP_PREFIX + '*')):
    if os.path.isfile(path):
      os.remove(path)
  ckpt_dir = checkpoint_dir(output_dir)
  for path in glob.glob(os.path.join(glob.escape(ckpt_dir), '*_temp*')):
    if os.path.isdir(path):
      shutil.rmtree(path, ignore_errors=True)
    elif os.path.isfile(path):
      os.remove(path)


# ---- metrics.jsonl ----------------------------------------------------------------------
def repair_jsonl(path):
  """Drop a last line cut short by a hard kill (no trailing newline). Returns its text."""
  if not os.path.exists(path):
    return ''
  with open(path, 'rb+') as f:
    f.seek(0, os.SEEK_END)
    size = f.tell()
    if size == 0:
      return ''
    f.seek(size - 1)
    if f.read(1) == b'\n':
      return ''
    # Find the last newline; everything after it is a partial record.
    block = 4096
    end = size
    keep = 0
    while end > 0:
      start = max(0, end - block)
      f.seek(start)
      chunk = f.read(end - start)
      index = chunk.rfind(b'\n')
      if index >= 0:
        keep = start + index + 1
        break
      end = start
    f.seek(keep)
    dropped = f.read()
    f.truncate(keep)
    f.flush()
    os.fsync(f.fileno())
  return dropped.decode('utf-8', errors='replace')


def append_jsonl(path, record):
  """Append one JSON record as a line (repairing a cut-short last line first), fsync."""
  repair_jsonl(path)
  line = json.dumps(record, sort_keys=True) + '\n'
  with open(path, 'a') as f:
    f.write(line)
    f.flush()
    os.fsync(f.fileno())


def read_jsonl(path):
  """The records of a JSON-lines file; a cut-short or unparsable last line is skipped."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    lines = [line for line in f.read().split('\n')]
  records = []
  for k, line in enumerate(lines):
    if not line.strip():
      continue
    try:
      records.append(json.loads(line))
    except ValueError:
      if k == len(lines) - 1:   # the partial last record of a killed writer
        break
      raise
  return records


# ---- run.json ---------------------------------------------------------------------------
def read_run_info(output_dir):
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
  os.makedirs(output_dir, exist_ok=True)
  atomic_write(os.path.join(output_dir, RUN_FILE), json.dumps(info, indent=2) + '\n')


# ---- checkpoints --------------------------------------------------------------------
def checkpoint_dir(output_dir):
  return os.path.join(output_dir, CHECKPOINT_DIR)


def checkpoint_step(prefix):
  """'.../ckpt-120' -> 120 (None if the name has no step)."""
  match = re.search(r'-(\d+)$', prefix or '')
  return int(match.group(1)) if match else None


def checkpoint_defect(prefix):
  """Why the checkpoint `prefix` is incomplete on disk (a short string), or None."""
  name = os.path.basename(prefix)
  if not os.path.isfile(prefix + '.index'):
    return f'{name}.index is missing'
  shards = glob.glob(glob.escape(prefix) + '.data-*-of-*')
  if not shards:
    return f'{name} has no .data file'
  totals = {int(m.group(1)) for m in (re.search(r'-of-(\d+)$', s) for s in shards) if m}
  if len(totals) != 1 or len(shards) != totals.pop():
    return f'{name} has an incomplete set of .data shards'
  return None


def has_checkpoint(output_dir):
  """Whether `output_dir` has at least one complete checkpoint on disk."""
  return bool(checkpoints_on_disk(checkpoint_dir(output_dir)))


def checkpoints_on_disk(directory):
  """Prefixes of the complete checkpoints in `directory`, newest (highest step) first."""
  prefixes = [p[:-len('.index')] for p in
              glob.glob(os.path.join(glob.escape(directory), 'ckpt-*.index'))]
  prefixes = [p for p in prefixes if checkpoint_step(p) is not None
              and checkpoint_defect(p) is None]
  return sorted(prefixes, key=checkpoint_step, reverse=True)


def read_checkpoint_state(directory):
  """(paths oldest first, timestamps, last_preserved_timestamp, readable) of `checkpoint`.

  Paths are absolute. `readable` is False when the state file exists but cannot be
  parsed (the caller then falls back to the checkpoints found on disk).
  """
  path = os.path.join(directory, CHECKPOINT_STATE)
  if not os.path.exists(path):
    return [], [], None, True
  try:
    with open(path) as f:
      text = f.read()
  except OSError:
    return [], [], None, False
  paths, stamps, last, latest = [], [], None, None
  for line in text.splitlines():
    line = line.strip()
    if not line:
      continue
    match = re.fullmatch(r'(\w+)\s*:\s*(.+)', line)
    if not match:
      return [], [], None, False
    key, value = match.groups()
    try:
      if key in ('model_checkpoint_path', 'all_model_checkpoint_paths'):
        value = json.loads(value)
        if not os.path.isabs(value):
          value = os.path.join(directory, value)
        if key == 'model_checkpoint_path':
          latest = value
        else:
          paths.append(value)
      elif key == 'all_model_checkpoint_timestamps':
        stamps.append(float(value))
      elif key == 'last_preserved_timestamp':
        last = float(value)
    except ValueError:
      return [], [], None, False
  if latest and latest not in paths:
    paths.append(latest)
    stamps = []
  if len(stamps) != len(paths):
    stamps = []
  return paths, stamps, last, True


def write_checkpoint_state(directory, paths, timestamps=None, last_preserved=None):
  """Atomically rewrite `checkpoint`: `paths` oldest first, the last one is the latest."""
  if not paths:
    state = os.path.join(directory, CHECKPOINT_STATE)
    if os.path.exists(state):
      os.remove(state)
    return
  now = time.time()
  timestamps = list(timestamps) if timestamps and len(timestamps) == len(paths) else [
      now] * len(paths)
  if last_preserved is None:
    last_preserved = min(timestamps) - 1.0
  rel = lambda p: json.dumps(os.path.relpath(p, directory) if os.path.isabs(p) else p)
  lines = [f'model_checkpoint_path: {rel(paths[-1])}']
  lines += [f'all_model_checkpoint_paths: {rel(p)}' for p in paths]
  lines += [f'all_model_checkpoint_timestamps: {t!r}' for t in timestamps]
  lines.append(f'last_preserved_timestamp: {last_preserved!r}')
  atomic_write(os.path.join(directory, CHECKPOINT_STATE), '\n'.join(lines) + '\n')


def latest_complete_checkpoint(output_dir):
  """The newest checkpoint of a run whose files are all on disk, or None.

  For readers (decoder, evaluator) that must not pick a checkpoint a killed trainer
  left half-written or half-deleted: the listed checkpoints newest first, then any
  complete one on disk. (The trainer itself also tries to load each candidate and falls
  back further on a load error; see `Trainer.restore`.)
  """
  directory = checkpoint_dir(output_dir)
  listed, _, _, _ = read_checkpoint_state(directory)
  listed = sorted(listed, key=lambda p: checkpoint_step(p) or -1, reverse=True)
  for prefix in listed + checkpoints_on_disk(directory):
    if checkpoint_step(prefix) is not None and checkpoint_defect(prefix) is None:
      return prefix
  return None
