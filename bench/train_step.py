r"""Throughput and achieved FLOP/s of the compiled training step, per gin configuration.

    python -m bench.train_step [--configs=all|image_tiny,lm1b,...] [--jit]
                               [--steps_per_loop=8] [--rounds=3]

For each configuration of `bench.common.CONFIGS` (image_tiny, cifar10_ablation at
32x32x3 batch 8, text_tiny, lm1b at 256 tokens batch 8) this builds the library's
`Trainer` (model from the gin file, the configured objective, the library's Adam) on
one CPU device and times its compiled training loop, the function `Trainer.train`
calls, with its own input pipeline:

* s/step and examples/s with `train.steps_per_loop = 1` (one step per call), best of
  `--rounds` samples (interleaved with the next variant), each sample timing
  `--steps_per_loop` consecutive calls so both variants average the same number of steps;
* the same loop called with `--steps_per_loop` steps per call; the ratio
  `spl/1` = (examples/s at steps_per_loop=N) / (examples/s at 1) should be >= 1
  (the host round-trip per call is amortised), up to measurement noise. Measured on
  image_tiny and text_tiny; the heavy configurations (cifar10_ablation, lm1b: hundreds
  of GFLOP per step) are timed over `--heavy_rounds` single steps;
* GFLOP per step, counted on the traced graph of that loop (matmul, einsum and
  convolution FLOPs of forward, backward and update; see `bench/common.py`), and the
  achieved GFLOP/s;
* the reference, the machine's limit for dense fp32 work: the best 2048x2048 fp32
  matmul that any library in the process reaches, NumPy's BLAS (`a @ b`) and
  TensorFlow's `tf.matmul` in a tf.function, each measured (best of several runs) just
  before and just after each configuration's timing; both are printed and the larger
  is the limit. `of limit` is achieved / limit. Targets (2-core CPU): 60% for
  cifar10_ablation and 45% for lm1b. On a loaded machine the two-thread matmul suffers
  more from contention than the training step does, so fractions measured under load
  come out too high; trust the ones measured with the load average below the core
  count. On a GPU the trainers run there (MirroredStrategy over the visible GPUs) and
  the limit is TensorFlow's fp32 matmul on the GPU at 8192x8192 (NumPy is not a
  reference for GPU work); `--batch_scale` multiplies every batch size.

`--jit` sets `train.jit_compile = True` (forward and backward compiled with XLA).
`--profile` runs one more step per configuration under the TensorFlow profiler and
prints where the op time goes, by op type.
"""

import argparse
import sys

from bench import common

RESULTS = []


def measure(name, jit_compile=False, steps_per_loop=8, rounds=5, heavy_rounds=1):
  m = common.measured(name, jit_compile)
  c = m.config
  if name in common.HEAVY:
    (one,), reference = common.local_reference(lambda: common.interleaved_best(
        [common.step_timer(m, 1)], min(rounds, heavy_rounds)))
    many = None
  else:
    (one, many), reference = common.local_reference(lambda: common.interleaved_best(
        [common.step_timer(m, 1, steps_per_loop), common.step_timer(m, steps_per_loop)],
        rounds))
  flops = m.flops
  return dict(config=name, jit=jit_compile, batch=c.batch_size, s_per_step=one,
              reference=reference, limit=reference.limit,
              examples_per_s=c.batch_size / one, spl=steps_per_loop,
              spl_ratio=one / many if many else None, gflop=flops.total / 1e9,
              gflops=flops.total / one / 1e9, first_call_s=m.first_call_s,
              flop_types={k: v / flops.total for k, v in flops.by_type.items()
                          if flops.total},
              loss=m.runner.last.get('loss', float('nan')) / max(
                  m.runner.last.get('count', 1.0), 1.0))


def print_table(results):
  print(f'{"config":17s} {"jit":>3s} {"batch":>5s} {"s/step":>8s} {"ex/s":>8s} '
        f'{"GFLOP/step":>10s} {"GFLOP/s":>8s} {"NumPy":>7s} {"TF":>7s} '
        f'{"of limit":>8s} {"target":>8s} {"spl/1":>6s} {"1st call s":>10s}')
  targets = common.TARGETS if common.bench_device() == 'CPU' else {}
  for r in results:
    target = targets.get(r['config'])
    fraction = r['gflops'] * 1e9 / r['limit']
    r['limit_fraction'] = fraction
    verdict = '' if target is None else (
        f'{"ok" if fraction >= target else "MISS"} {target:.0%}')
    numpy = f'{r["reference"].numpy / 1e9:7.1f}' if r['reference'].numpy else '    n/a'
    print(f'{r["config"]:17s} {"on" if r["jit"] else "off":>3s} {r["batch"]:5d} '
          f'{r["s_per_step"]:8.3f} {r["examples_per_s"]:8.3g} {r["gflop"]:10.2f} '
          f'{r["gflops"]:8.2f} {numpy} {r["reference"].tensorflow / 1e9:7.1f} '
          f'{fraction:8.1%} {verdict:>8s} '
          f'{r["spl_ratio"] or float("nan"):6.2f} {r["first_call_s"]:10.1f}', flush=True)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--configs', default='all')
  parser.add_argument('--jit', action='store_true', help='train.jit_compile = True')
  parser.add_argument('--steps_per_loop', type=int, default=8)
  parser.add_argument('--rounds', type=int, default=5,
                      help='interleaved rounds for the light configs')
  parser.add_argument('--profile', action='store_true',
                      help='profile one more step per config; print op time by type')
  parser.add_argument('--heavy_rounds', type=int, default=1,
                      help='rounds for the heavy configs ' + ', '.join(common.HEAVY))
  parser.add_argument('--batch_scale', type=int, default=None,
                      help='multiply every batch size (e.g. 16 on a GPU)')
  args = parser.parse_args(argv)
  if args.batch_scale:
    common.set_batch_scale(args.batch_scale)
  names = common.config_names(args.configs)
  print('== train_step: compiled training step (forward + backward + Adam), '
        f'jit_compile={args.jit}')
  print(common.machine_line())
  results = []
  for name in names:
    results.append(measure(name, args.jit, args.steps_per_loop, args.rounds,
                           args.heavy_rounds))
    print(f'  measured {name}: {results[-1]["s_per_step"]:.3f} s/step', flush=True)
  print(f'reference: dense fp32 matmul {common.reference_size()}^2 GFLOP/s of NumPy\'s '
        'BLAS (NumPy) and of tf.matmul (TF), each the best of the measurements just '
        'before and just after the config\'s timing; "of limit" = GFLOP/s over the '
        'larger of the two')
  print_table(results)
  print('  ' + common.reference_line(common.reference()) + ' (best over the run)')
  for r in results:
    top = sorted(r['flop_types'].items(), key=lambda kv: -kv[1])
    print(f'  {r["config"]}: FLOPs by op ' +
          ', '.join(f'{k} {v:.0%}' for k, v in top))
  if args.profile:
    for name in names:
      total, ranked = common.profile_step(common.measured(name, args.jit).runner)
      print(f'  {name}: op time by type over one step ({total:.0f} ms in ops; GFLOP/s '
            'of the counted kinds): ' + ', '.join(
                f'{k} {share:.0%}' + (f' ({rate:.0f})' if rate else '')
                for k, _, share, rate in ranked))
  print(f'spl/1: examples/s with {args.steps_per_loop} steps per compiled call over 1 '
        'step per call (>= 1 expected, noise ~10%); measured on the light configs only '
        '(nan: a heavy config, whose step dwarfs the per-call overhead).')
  RESULTS.extend(results)
  return results


if __name__ == '__main__':
  main()
  sys.exit(0)
