"""User-facing errors.

A `UserError` carries a one-line message that says what was wrong, what the valid
choices are and what to do. The command-line tools print it without a traceback and
exit with status 2.

Writing can fail for reasons outside the program (a full disk, a quota, a read-only
file system); `writing(what, advice)` turns such a failure, from Python or from
TensorFlow's file system layer, into a UserError naming what was being written.
"""

import contextlib
import errno
import os
import tempfile

# errno -> reason, for failures to write that the user fixes outside the program.
WRITE_FAILURES = {
    errno.ENOSPC: 'no space left on device',
    errno.EDQUOT: 'disk quota exceeded',
    errno.EFBIG: 'file too large for the file system or the file-size limit',
    errno.EROFS: 'read-only file system',
    errno.EACCES: 'permission denied',
    errno.EPERM: 'operation not permitted',
}
# The same conditions as TensorFlow's file system layer words them.
_TF_MESSAGES = {
    'No space left on device': errno.ENOSPC,
    'Disk quota exceeded': errno.EDQUOT,
    'File too large': errno.EFBIG,
    'Read-only file system': errno.EROFS,
    'Permission denied': errno.EACCES,
}


class UserError(ValueError):
  """A mistake in flags, configuration or data that the user can fix."""


def message_lines(error):
  """The non-blank lines of an exception's message, stripped (gin and TensorFlow add
  context lines after the first)."""
  return [line.strip() for line in str(error).splitlines() if line.strip()]


def first_line(error):
  """The first line of an exception's message without its final period (or the
  exception's type name), for quoting inside a one-line message."""
  lines = message_lines(error)
  return lines[0].rstrip('.') if lines else type(error).__name__


def write_failure(error):
  """The reason (e.g. 'no space left on device') if `error` is a failure to write
  caused by the disk or permissions, else None. Accepts OSError and TensorFlow errors
  (tf.errors.OpError and subclasses) without importing TensorFlow."""
  if isinstance(error, OSError) and error.errno in WRITE_FAILURES:
    return WRITE_FAILURES[error.errno]
  if type(error).__module__.startswith('tensorflow'):
    text = str(error)
    for phrase, code in _TF_MESSAGES.items():
      if phrase in text:
        return WRITE_FAILURES[code]
  return None


@contextlib.contextmanager
def writing(what, advice):
  """Re-raise a disk or permission failure inside the block as a one-line UserError:
  'cannot write <what> (<reason>); <advice>'."""
  try:
    yield
  except Exception as e:  # pylint: disable=broad-except
    reason = write_failure(e)
    if reason is None:
      raise
    raise UserError(f'cannot write {what} ({reason}); {advice}') from None


def cannot_write_in(directory):
  """Why new files cannot be created in an existing `directory` (e.g. 'permission
  denied'), or None. Creates and removes an empty probe file to find out (permission
  bits alone say nothing about read-only mounts, or for the superuser)."""
  try:
    fd, probe = tempfile.mkstemp(dir=directory, prefix='.write-check-')
  except OSError as e:
    return WRITE_FAILURES.get(e.errno, e.strerror or type(e).__name__)
  os.close(fd)
  os.remove(probe)
  return None


def check_output_path(flag, path, kind='file'):
  """UserError unless `path` (a file, or with kind='dir' a directory that may not exist
  yet) can be written: its parent exists as a directory and accepts new files."""
  if kind == 'file' and os.path.isdir(path):
    raise UserError(f'{flag}={path} is a directory; pass a file name.')
  if kind == 'dir' and os.path.exists(path) and not os.path.isdir(path):
    raise UserError(f'{flag}={path} is a file, not a directory; choose a directory (it is '
                    'created if missing).')
  directory = os.path.abspath(path) if kind == 'dir' else os.path.dirname(
      os.path.abspath(path))
  while not os.path.exists(directory) and kind == 'dir':
    directory = os.path.dirname(directory)
  if not os.path.isdir(directory):
    what = 'is a file, not a directory' if os.path.exists(directory) else 'does not exist'
    raise UserError(f'{flag}={path}: {directory} {what}; choose another {flag}.')
  reason = cannot_write_in(directory)
  if reason is None and kind == 'file' and os.path.exists(path) and not os.access(
      path, os.W_OK):
    reason = 'the file is read-only'
  if reason:
    raise UserError(f'{flag}={path} cannot be written ({reason} in {directory}); choose '
                    f'another {flag}.')
