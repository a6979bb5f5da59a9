r"""Peak resident memory of a short training run, one subprocess per configuration.

    python -m bench.memory [--configs=all|image_tiny,...] [--steps=2] [--jit]
                           [--parallel=2] [--timeout=900]

Each configuration of `bench.common.CONFIGS` runs in a fresh Python process that
imports TensorFlow and t2t_delta, records its resident set size (the reference,
measured in the same process before anything is built), then builds the library's
`Trainer` and runs `Trainer.train` for `--steps` steps (no evaluation; the final
checkpoint is written to a temp directory). The peak is the process's high-water
mark of resident memory over the whole run,
including tracing and, with --jit, XLA compilation. It is read from VmHWM in
/proc/self/status (`ru_maxrss` survives exec, so a child of a large parent such as
bench.run_all would report the parent's size).

Columns: the baseline after imports, the peak, the growth (peak - baseline), the
trainable parameter count, the parameters + Adam moments (3 x 4 bytes per parameter),
and `peak/base`, the ratio against the same-process baseline.
"""

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MB = 1024.0 * 1024.0


def _rss():
  import psutil  # pylint: disable=g-import-not-at-top
  return psutil.Process().memory_info().rss


def _peak_rss():
  """High-water mark of this process's RSS in bytes.

  VmHWM from /proc belongs to the address space and starts afresh at exec;
  `ru_maxrss` does not (a child forked from a large parent reports the parent's RSS),
  so it is only the fallback where /proc is missing.
  """
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith('VmHWM:'):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  import resource  # pylint: disable=g-import-not-at-top
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # KiB on Linux


def child(name, steps, jit):
  from bench import common  # pylint: disable=g-import-not-at-top
  from t2t_delta.models import base  # pylint: disable=g-import-not-at-top
  baseline = _rss()
  start = time.perf_counter()
  with common.temp_dir() as output_dir:
    trainer = common.build_trainer(
        common.config(name), output_dir, jit_compile=jit,
        extra_params=(f'train.steps = {steps}', 'train.final_splits = ()',
                      'train.checkpoint_every_steps = 0'))
    params = base.count_parameters(trainer.model)
    trainer.train(evaluate=False)
    after = _rss()
  peak = _peak_rss()
  print(json.dumps(dict(config=name, baseline=baseline, peak=peak, after=after,
                        params=params, seconds=time.perf_counter() - start)))


def run_children(names, steps, jit, parallel, timeout):
  """Runs one child per config (`parallel` at a time); returns {name: result dict}."""
  pending, running, results = list(names), {}, {}
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  deadline = time.time() + timeout
  while pending or running:
    while pending and len(running) < parallel:
      name = pending.pop(0)
      args = [sys.executable, '-m', 'bench.memory', f'--child={name}', f'--steps={steps}']
      if jit:
        args.append('--jit')
      running[name] = subprocess.Popen(args, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, cwd=REPO,
                                       env=env)
    for name, proc in list(running.items()):
      if proc.poll() is None and time.time() < deadline:
        continue
      if proc.poll() is None:
        proc.kill()
      out, err = proc.communicate()
      del running[name]
      lines = [l for l in out.splitlines() if l.startswith('{')]
      if proc.returncode == 0 and lines:
        results[name] = json.loads(lines[-1])
      else:
        tail = (err or out).strip().splitlines()[-3:]
        results[name] = dict(config=name, error=f'exit {proc.returncode}: '
                             + ' | '.join(tail))
    time.sleep(0.2)
  return results


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--configs', default='all')
  parser.add_argument('--steps', type=int, default=2)
  parser.add_argument('--jit', action='store_true')
  parser.add_argument('--parallel', type=int, default=2)
  parser.add_argument('--timeout', type=float, default=900)
  parser.add_argument('--child', default=None, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.child:
    child(args.child, args.steps, args.jit)
    return None
  from bench import common  # pylint: disable=g-import-not-at-top
  names = common.config_names(args.configs)
  print(f'== memory: peak RSS of a {args.steps}-step training run, one process per '
        f'config, jit_compile={args.jit}')
  results = run_children(names, args.steps, args.jit, args.parallel, args.timeout)
  print(f'{"config":17s} {"base MB":>8s} {"peak MB":>8s} {"growth MB":>9s} '
        f'{"params":>11s} {"p+Adam MB":>9s} {"peak/base":>9s} {"run s":>6s}')
  for name in names:
    r = results[name]
    if 'error' in r:
      print(f'{name:17s} FAILED {r["error"]}')
      continue
    state = r['params'] * 12 / MB
    print(f'{name:17s} {r["baseline"] / MB:8.0f} {r["peak"] / MB:8.0f} '
          f'{(r["peak"] - r["baseline"]) / MB:9.0f} {r["params"]:11,d} {state:9.1f} '
          f'{r["peak"] / r["baseline"]:9.2f} {r["seconds"]:6.1f}', flush=True)
  return results


if __name__ == '__main__':
  main()
