r"""Runs the whole benchmark suite and prints a summary.

    python -m bench.run_all [--configs=all] [--rounds=2] [--full] [--skip=memory,...]
                            [--batch_scale=1]

In one process, in order: `train_step` (TensorFlow kernels, steps_per_loop 1 vs 8,
5 interleaved rounds on the light configs, 1 on the heavy ones),
`xla` (reusing the trainers train_step built, adding their jit_compile twins; on
image_tiny and text_tiny only unless --full: XLA-compiling a cifar10_ablation or lm1b
step takes minutes on two cores, so including them breaks the 10-minute budget),
`input_pipeline` (reusing the image_tiny/text_tiny step timings), `dmol`; then
`memory` (a one-step run) in one subprocess per configuration. Trainers are built once per
(configuration, jit_compile) and shared between the benchmarks. The summary gives,
per configuration, the faster of the two step variants as a fraction of the machine's
limit (the best dense fp32 matmul of NumPy's BLAS and of TensorFlow, measured in the
same process), against the 60% (cifar10_ablation) and 45% (lm1b) targets of the 2-core
CPU.

The same command runs on a GPU machine: the trainers are built on the GPU(s)
(MirroredStrategy) whenever TensorFlow sees one, the limit is then TensorFlow's fp32
matmul on the GPU, and `--batch_scale=N` multiplies every configuration's batch size
(the CPU batches of 8 to 32 examples leave a GPU mostly idle).
"""

import argparse
import time

from bench import common
from bench import dmol
from bench import input_pipeline
from bench import memory
from bench import train_step
from bench import xla

STAGES = ('train_step', 'xla', 'input_pipeline', 'dmol', 'memory')


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--configs', default='all')
  parser.add_argument('--rounds', type=int, default=2,
                      help='rounds of xla, input_pipeline and dmol')
  parser.add_argument('--full', action='store_true',
                      help='XLA comparison for every config, not only the light ones')
  parser.add_argument('--skip', default='', help='comma-separated stages to skip')
  parser.add_argument('--batch_scale', type=int, default=1,
                      help='multiply every batch size (e.g. 16 on a GPU)')
  args = parser.parse_args(argv)
  common.set_batch_scale(args.batch_scale)
  skip = {s for s in args.skip.split(',') if s}
  rounds = str(args.rounds)
  start = time.perf_counter()
  durations = {}

  def stage(name, fn):
    if name in skip:
      return None
    t0 = time.perf_counter()
    out = fn()
    durations[name] = time.perf_counter() - t0
    print(f'[{name}: {durations[name]:.0f} s]\n', flush=True)
    return out

  steps = stage('train_step', lambda: train_step.main(['--configs', args.configs]))
  names = common.config_names(args.configs)
  xla_names = names if args.full else [n for n in names if n not in common.HEAVY]
  xla_results = stage('xla', lambda: xla.main(
      ['--configs', ','.join(xla_names), '--rounds', rounds])) if xla_names else None
  stage('input_pipeline', lambda: input_pipeline.main(['--rounds', rounds]))
  stage('dmol', lambda: dmol.main(['--rounds', str(max(args.rounds, 3))]))
  # One step: the peak is reached by tracing and the first step; a second cifar10_ablation
  # step would add ~35 s to the suite.
  stage('memory', lambda: memory.main(['--configs', args.configs, '--steps', '1']))

  print('== summary: the faster of the tf / xla steps against the machine\'s limit '
        '(best fp32 matmul of NumPy and TensorFlow) measured around it')
  targets = common.TARGETS if common.bench_device() == 'CPU' else {}
  by_config = {r['config']: r for r in (xla_results or [])}
  for r in steps or []:
    name = r['config']
    best, variant, reference = r['s_per_step'], 'tf', r['reference']
    if name in by_config and by_config[name]['xla_s'] < best:
      best, variant = by_config[name]['xla_s'], 'xla'
      reference = by_config[name]['reference']
    fraction = r['gflop'] * 1e9 / best / reference.limit
    target = targets.get(name)
    verdict = '' if target is None else (
        f'  target {target:.0%}: {"met" if fraction >= target else "NOT met"}')
    print(f'{name:17s} best {variant:3s} {best:8.3f} s/step {r["gflop"] / best:7.2f} '
          f'GFLOP/s  limit {reference.limit / 1e9:6.2f}  {fraction:6.1%}{verdict}')
  total = time.perf_counter() - start
  print('stage times: ' + ', '.join(f'{k} {v:.0f} s' for k, v in durations.items()) +
        f'; total {total:.0f} s ({total / 60:.1f} min)')


if __name__ == '__main__':
  main()
