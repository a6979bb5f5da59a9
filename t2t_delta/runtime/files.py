"""Crash-safe file writes: whole files replaced atomically, records appended.

`atomic_write` writes a temporary file (`.tmp-*` in the same directory), fsyncs it and
renames it over the target, so a reader sees the old or the new version, never a mix.
JSON-lines files are append-only with one fsync per record; a record cut short by a
hard kill is removed before the next append (`repair_jsonl`) and skipped by
`read_jsonl`.
"""

import json
import os
import tempfile

TMP_PREFIX = '.tmp-'


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
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=TMP_PREFIX)
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


# ---- JSON lines ----------------------------------------------------------------------
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
