"""The checkpoints of a run: listing, saving and the two ways of restoring them.

    RUN/checkpoints/
      checkpoint                        state file: the listed checkpoints, newest last
      ckpt-N.index, ckpt-N.data-*-of-*  one checkpoint (N: its training step)
      ckpt-N_temp/                      a save in progress (TensorFlow's sharded save:
                                        part-*.data-*.tempstate*, part-*.index), merged
                                        into ckpt-N.* and removed when it completes

A checkpoint becomes visible only when TensorFlow records it in the state file after
writing its data and index. Two kinds of restore:

* `restore_for_training` (the trainer, holding the run's lock): tries each checkpoint
  newest first, skips one that is incomplete or does not load, and repairs the
  directory (stale temporaries removed, the state file rewritten to list only
  checkpoints that load).
* `require_latest` + `read_weights` (t2t-delta-eval, t2t-delta-decoder; see
  `run_setup.load_run`): the model's weights from the newest complete checkpoint;
  nothing is written, created or deleted, so they may run beside a live trainer, whose
  in-flight `ckpt-N_temp` they leave alone.
"""

import glob
import json
import os
import re
import shutil
import tempfile
import time

import tensorflow as tf

from t2t_delta import errors
from t2t_delta.errors import UserError
from t2t_delta.runtime import files, run_dir

CHECKPOINT_STATE = 'checkpoint'


# ---- listing -------------------------------------------------------------------------
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
  return bool(checkpoints_on_disk(run_dir.checkpoint_dir(output_dir)))


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
  files.atomic_write(os.path.join(directory, CHECKPOINT_STATE), '\n'.join(lines) + '\n')


def latest_complete_checkpoint(output_dir):
  """The newest checkpoint of a run whose files are all on disk, or None.

  For readers (decoder, evaluator) that must not pick a checkpoint a killed trainer
  left half-written or half-deleted: the listed checkpoints newest first, then any
  complete one on disk. (The trainer itself also tries to load each candidate and falls
  back further on a load error; see `restore_for_training`.)
  """
  directory = run_dir.checkpoint_dir(output_dir)
  listed, _, _, _ = read_checkpoint_state(directory)
  listed = sorted(listed, key=lambda p: checkpoint_step(p) or -1, reverse=True)
  for prefix in listed + checkpoints_on_disk(directory):
    if checkpoint_step(prefix) is not None and checkpoint_defect(prefix) is None:
      return prefix
  return None


# ---- restoring -----------------------------------------------------------------------
def require_latest(output_dir):
  """The run's newest complete checkpoint (prefix); UserError if it has none."""
  latest = latest_complete_checkpoint(output_dir)
  if latest is None:
    raise UserError(f'no checkpoint in {run_dir.checkpoint_dir(output_dir)}; train the '
                    'run first (t2t-delta-trainer with the same --output_dir).')
  return latest


def read_weights(model, prefix):
  """Load `model`'s weights from the checkpoint `prefix`, read-only: nothing on disk is
  written, created or deleted (no CheckpointManager, no repair as in
  `restore_for_training`). The optimizer's state in the checkpoint is not read."""
  tf.train.Checkpoint(model=model).read(prefix).expect_partial()


def restore_for_training(checkpoint, output_dir, repair=True, log=print):
  """Restore the newest checkpoint that loads into `checkpoint`; (path or None, whether
  the state file was rewritten).

  Candidates are the checkpoints listed in the state file, newest first, then complete
  checkpoints found on disk but not listed (written just before a kill, or listed in a
  state file that cannot be read). One that is incomplete or fails to load is skipped
  with a warning, so a partially written checkpoint is never used. With `repair` (the
  chief trainer, under the run's lock) stale temporaries are removed first and the
  state file is rewritten to list only what remains. Raises UserError if checkpoints
  exist but none of them loads (e.g. the model's gin bindings changed).
  """
  directory = run_dir.checkpoint_dir(output_dir)
  if not os.path.isdir(directory):
    return None, False
  if repair:
    run_dir.remove_stale_temporaries(output_dir)
  listed, stamps, last_preserved, readable = read_checkpoint_state(directory)
  if not readable:
    log(f'warning: {os.path.join(directory, CHECKPOINT_STATE)} cannot be parsed; using '
        'the checkpoints found on disk.')
  listed = [os.path.normpath(p) for p in listed]
  by_step = lambda paths: sorted(paths, key=lambda p: checkpoint_step(p) or -1,
                                 reverse=True)
  on_disk = [os.path.normpath(p) for p in checkpoints_on_disk(directory)]
  candidates = by_step(listed) + [p for p in on_disk if p not in listed]
  rejected, reasons, restored = set(), [], None
  for path in candidates:
    reason = checkpoint_defect(path)
    if reason is None:
      try:
        checkpoint.restore(path).assert_existing_objects_matched()
        restored = path
        break
      except Exception as e:  # pylint: disable=broad-except
        reason = errors.first_line(e)
    rejected.add(path)
    reasons.append(f'{os.path.basename(path)}: {reason}')
    log(f'warning: cannot restore checkpoint {path} ({reason}); trying an older one.')
  if candidates and restored is None:
    raise UserError(f'no checkpoint in {directory} can be restored ({reasons[0]}); if '
                    'the model or its gin bindings changed, use a new --output_dir.')
  # Older listed checkpoints can be half-deleted (a kill while the manager removed
  # them); keep only complete ones so that every listed checkpoint loads.
  older = [p for p in listed if restored and p not in rejected
           and checkpoint_step(p) is not None
           and checkpoint_step(p) < checkpoint_step(restored)]
  complete = [p for p in older if checkpoint_defect(p) is None]
  rewrite = repair and bool(rejected or not readable or (restored and restored not in listed)
                            or len(complete) != len(older))
  if rewrite:
    stamp_of = dict(zip(listed, stamps)) if stamps else {}
    paths = complete + [restored] if restored else []
    now = time.time()
    write_checkpoint_state(directory, paths, [stamp_of.get(p, now) for p in paths],
                           last_preserved)
  if restored and rejected:
    log(f'warning: resumed from {restored} instead of the newer, damaged '
        f'checkpoint(s) {", ".join(sorted(os.path.basename(p) for p in rejected))}.')
  return restored, rewrite


# ---- saving --------------------------------------------------------------------------
class Saver:
  """The trainer's `tf.train.CheckpointManager`.

  On the chief it writes RUN/checkpoints and keeps `max_to_keep` checkpoints. Saving
  under a strategy is a collective step every worker takes, so the other workers save
  to a temporary directory of their own, emptied after each save.
  """

  def __init__(self, checkpoint, output_dir, max_to_keep, step_counter, is_chief):
    self._checkpoint, self._max_to_keep = checkpoint, max_to_keep
    self._step_counter, self.is_chief = step_counter, is_chief
    self.directory = (run_dir.checkpoint_dir(output_dir) if is_chief
                      else tempfile.mkdtemp(prefix='t2t_delta_worker_checkpoints_'))
    self.reload()

  def reload(self):
    """Re-read the state file (after `restore_for_training` rewrote it)."""
    self._manager = tf.train.CheckpointManager(
        self._checkpoint, self.directory, max_to_keep=self._max_to_keep,
        step_counter=self._step_counter)

  @property
  def latest(self):
    """The newest checkpoint this run saved or restored (path), or None."""
    return self._manager.latest_checkpoint

  @property
  def latest_step(self):
    return checkpoint_step(self.latest) if self.latest else None

  def save(self, step, advice):
    """Checkpoint at `step` (every worker must call it); its path. A failure to write
    is a UserError ending with `advice`."""
    with errors.writing(f'checkpoint {self.directory}/ckpt-{step}', advice):
      path = self._manager.save(checkpoint_number=step)
    if not self.is_chief:
      shutil.rmtree(self.directory, ignore_errors=True)
    return path
