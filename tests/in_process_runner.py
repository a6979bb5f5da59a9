"""Run many command lines of one tool in one Python process (saves TF start-up).

    python in_process_runner.py MODULE ROWS.json RESULTS.json

ROWS.json is a list of {"id": ..., "args": [...]}. Each row goes through the same
steps as the binary: the module's absl flag parsing (`parse_flags` if the module has
it, else FLAGS(argv)), then its `TOOL.call(_main, argv)` (the tool's early check, then
`_main`; `_main` alone for a module without a TOOL), with stdout and stderr captured.
RESULTS.json maps id -> {"status", "stdout", "stderr"}.

A row with "file_size_limit": N runs with the soft RLIMIT_FSIZE at N bytes (writes
beyond it fail with EFBIG, as on a full disk; SIGXFSZ is ignored), restored after.
"""

import contextlib
import importlib
import io
import json
import os
import resource
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)   # tests/: tiny_problems


def main():
  module_name, rows_path, results_path = sys.argv[1:4]
  from t2t_delta import quiet  # pylint: disable=g-import-not-at-top
  quiet.import_tensorflow_quietly()
  import tiny_problems  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from absl import flags  # pylint: disable=g-import-not-at-top
  module = importlib.import_module(module_name)
  parse = getattr(module, 'parse_flags', None) or flags.FLAGS
  with open(rows_path) as f:
    rows = json.load(f)
  results = {}
  for row in rows:
    argv = [module_name] + list(row['args'])
    out, err = io.StringIO(), io.StringIO()
    status = 0
    started = time.time()
    flags.FLAGS.unparse_flags()
    limit = row.get('file_size_limit')
    previous = resource.getrlimit(resource.RLIMIT_FSIZE)
    if limit is not None:
      signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
      resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), previous[1]))
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      try:
        argv = parse(argv)
        tool = getattr(module, 'TOOL', None)
        main = module._main  # pylint: disable=protected-access
        status = (tool.call(main, argv) if tool is not None else main(argv)) or 0
      except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
      except BaseException:  # pylint: disable=broad-except
        traceback.print_exc()
        status = 1
    resource.setrlimit(resource.RLIMIT_FSIZE, previous)
    results[row['id']] = {'status': status, 'stdout': out.getvalue(),
                          'stderr': err.getvalue(), 'seconds': time.time() - started}
  with open(results_path, 'w') as f:
    json.dump(results, f, indent=1)


if __name__ == '__main__':
  main()
