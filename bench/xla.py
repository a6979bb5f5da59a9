r"""The training step with and without XLA (`train.jit_compile`), per configuration.

    python -m bench.xla [--configs=all|image_tiny,...] [--rounds=3] [--steps_per_call=1]

Builds the library's `Trainer` twice per configuration of `bench.common.CONFIGS`,
with `train.jit_compile = False` (TensorFlow kernels) and `True` (forward and backward
compiled by XLA; the Adam update and metrics stay outside), and times both compiled
training loops interleaved, so that both see the same load. Prints s/step, the ratio
`xla/tf` = (examples/s with XLA) / (examples/s without), and the time of the first call
(tracing, plus XLA compilation for the jit variant). The heavy configurations
(cifar10_ablation, lm1b) are timed over one round.
"""

import argparse

from bench import common

RESULTS = []


def measure(name, rounds=3, steps_per_call=1):
  plain, jit = common.measured(name, False), common.measured(name, True)
  if name in common.HEAVY:
    rounds = 1
  (t_plain, t_jit), reference = common.local_reference(lambda: common.interleaved_best(
      [common.step_timer(plain, steps_per_call), common.step_timer(jit, steps_per_call)],
      rounds))
  return dict(config=name, tf_s=t_plain, xla_s=t_jit, ratio=t_plain / t_jit,
              reference=reference,
              tf_first=plain.first_call_s, xla_first=jit.first_call_s,
              batch=plain.config.batch_size)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--configs', default='all')
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--steps_per_call', type=int, default=1)
  args = parser.parse_args(argv)
  print('== xla: training step with train.jit_compile = False (tf) vs True (xla)')
  print(common.machine_line())
  print(f'{"config":17s} {"tf s/step":>9s} {"xla s/step":>10s} {"tf ex/s":>8s} '
        f'{"xla ex/s":>8s} {"xla/tf":>6s} {"tf 1st s":>8s} {"xla 1st s":>9s}')
  results = []
  for name in common.config_names(args.configs):
    r = measure(name, args.rounds, args.steps_per_call)
    results.append(r)
    print(f'{name:17s} {r["tf_s"]:9.3f} {r["xla_s"]:10.3f} {r["batch"] / r["tf_s"]:8.3g} '
          f'{r["batch"] / r["xla_s"]:8.3g} {r["ratio"]:6.2f} {r["tf_first"]:8.1f} '
          f'{r["xla_first"]:9.1f}', flush=True)
  print('xla/tf > 1: XLA is faster. "1st" is the first call: tracing (+ XLA compile).')
  RESULTS.extend(results)
  return results


if __name__ == '__main__':
  main()
