"""Moved to `t2t_delta.runtime` (run_dir, files, checkpoints).

Left only because `decode/text_modes.py` still imports `run_dir.atomic_write` from
here; when that import reads `from t2t_delta.runtime import files` (and the call
`files.atomic_write`), delete this file.
"""

from t2t_delta.runtime.files import atomic_write  # noqa: F401
