"""One trainer per run directory: an exclusive lock on `RUN/.lock`.

The lock is a `flock` on the file, which the kernel drops when its process ends, so a
lock left by a killed trainer (kill -9, power loss) is stale by construction: the next
trainer takes it over. The file holds the holder's pid, host, start time and command,
for the message a second trainer gets. The holder removes the file when it releases
the lock (unlink while still locked; a trainer that locked the old file notices that
it no longer exists and tries again).

    check_free(output_dir)         # read-only: UserError if a live trainer holds it
    with RunLock(output_dir):      # creates output_dir if needed
      ...
"""

import datetime
import errno
import fcntl
import json
import os
import socket
import sys

from t2t_delta.errors import UserError

LOCK_FILE = '.lock'
BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
UNSUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)


def lock_path(output_dir):
  return os.path.join(output_dir, LOCK_FILE)


def _holder(path):
  """The holder's recorded {pid, host, started, command} (empty if unreadable)."""
  try:
    with open(path) as f:
      info = json.load(f)
    return info if isinstance(info, dict) else {}
  except (OSError, ValueError):
    return {}


def _in_use_error(output_dir, path):
  info = _holder(path)
  who = (f"pid {info.get('pid', '?')} on host {info.get('host', '?')}, running since "
         f"{info.get('started', '?')}: {info.get('command', '?')}")
  return UserError(f'--output_dir={output_dir} is in use by another trainer ({who}); wait '
                   f'for it to finish or stop it (kill {info.get("pid", "PID")}), or '
                   'choose another --output_dir.')


def check_free(output_dir):
  """UserError if a live trainer holds the lock of `output_dir` (writes nothing)."""
  path = lock_path(output_dir)
  try:
    fd = os.open(path, os.O_RDONLY)
  except OSError:
    return
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
  except OSError as e:
    if e.errno in BUSY:
      raise _in_use_error(output_dir, path) from None
  finally:
    os.close(fd)


class RunLock:
  """Exclusive lock of a run directory for the lifetime of a `with` block.

  `created` lists the directories that acquiring created, so that a run that fails
  before writing anything leaves no trace (`release(remove_dir=True)`).
  """

  def __init__(self, output_dir):
    self.output_dir = output_dir
    self.path = lock_path(output_dir)
    self.created = []     # directories that acquiring created, deepest first
    self._fd = None

  def acquire(self):
    missing, directory = [], os.path.abspath(self.output_dir)
    while not os.path.isdir(directory):
      missing.append(directory)
      directory = os.path.dirname(directory)
    os.makedirs(self.output_dir, exist_ok=True)
    self.created = missing
    while True:
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except OSError as e:
        os.close(fd)
        if e.errno in BUSY:
          raise _in_use_error(self.output_dir, self.path) from None
        if e.errno in UNSUPPORTED:
          print(f'warning: the file system of {self.output_dir} has no file locks; '
                'nothing stops a second trainer on it.', flush=True)
          return self
        raise
      try:   # the previous holder may have removed the file before we locked it
        same = os.path.samestat(os.fstat(fd), os.stat(self.path))
      except FileNotFoundError:
        same = False
      if same:
        break
      os.close(fd)
    info = {'pid': os.getpid(), 'host': socket.gethostname(),
            'started': datetime.datetime.now().isoformat(timespec='seconds'),
            'command': ' '.join([os.path.basename(sys.argv[0])] + sys.argv[1:])}
    os.ftruncate(fd, 0)
    os.write(fd, (json.dumps(info) + '\n').encode())
    self._fd = fd
    return self

  def release(self, remove_dir=False):
    """Remove the lock file and unlock; with `remove_dir`, also the directories that
    `acquire` created, if nothing else was written in them."""
    if self._fd is None:
      return
    try:
      os.remove(self.path)
    except OSError:
      pass
    os.close(self._fd)
    self._fd = None
    if remove_dir:
      for directory in self.created:
        try:
          os.rmdir(directory)
        except OSError:
          break

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()
