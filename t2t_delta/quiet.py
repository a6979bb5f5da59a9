"""Start-up hygiene for the command-line tools: TensorFlow's native log noise.

TensorFlow's C++ runtime writes start-up messages (CUDA probing on machines without a
GPU, absl initialisation warnings) straight to file descriptor 2, bypassing Python.
The binaries import TensorFlow with that descriptor pointed at /dev/null so that a
user sees only the tool's own messages. Set T2T_DELTA_NATIVE_LOGS=1 (and
TF_CPP_MIN_LOG_LEVEL=0) to see everything.
"""

import contextlib
import os


@contextlib.contextmanager
def native_stderr_silenced():
  if os.environ.get('T2T_DELTA_NATIVE_LOGS') == '1':
    yield
    return
  saved = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)


def import_tensorflow_quietly():
  """Import TensorFlow (and initialise its CPU devices) without native log noise."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  with native_stderr_silenced():
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_probability  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
    tf.config.list_physical_devices('GPU')   # CUDA probing happens here
  return tf
