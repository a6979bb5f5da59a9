r"""Examples/s of each problem's training input pipeline vs the training step's rate.

    python -m bench.input_pipeline [--batches=200] [--rounds=3]

Builds the training stream `t2t_delta.train.inputs.train_dataset` (the exact pipeline
the trainer reads, prefetching included) for

  image_synthetic  the embedded 16x16x3 problem               vs the image_tiny step
  text_synthetic   the embedded 32-token problem               vs the text_tiny step
  image_files      a generated train.npz/test.npz, 16x16x3     vs the image_tiny step
  text_lines       generated train.txt/test.txt, SentencePiece vs the text_tiny step
                   vocabulary trained into the temp directory

and pulls `--batches` batches through a Python iterator (after a warm-up), best of
`--rounds`. The reference is the training step of the matching gin configuration
(image_tiny / text_tiny, batch 32) measured in the same process (reused when
bench.train_step already ran in this process). `pipeline/step` is pipeline examples/s
over step examples/s: it must be >> 1 for the input pipeline never to be the
bottleneck (it runs on the same cores as the step).
"""

import argparse
import os
import time

import numpy as np

from bench import common

tf = common.tf
RESULTS = []
BATCH = 32

WORDS = ('the small red fox jumps over a lazy dog while seven quick brown cats sleep '
         'under warm yellow lamps near an old wooden table in quiet rooms at night').split()


def write_image_files(data_dir, num_train=1024, num_test=64, size=16):
  rng = np.random.default_rng(0)
  for split, n in (('train', num_train), ('test', num_test)):
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.int32)
    np.savez(os.path.join(data_dir, f'{split}.npz'), image=images, label=labels)


def write_text_lines(data_dir, num_train=2000, num_test=100):
  rng = np.random.default_rng(0)
  for split, n in (('train', num_train), ('test', num_test)):
    with open(os.path.join(data_dir, f'{split}.txt'), 'w') as f:
      for _ in range(n):
        f.write(' '.join(rng.choice(WORDS, rng.integers(4, 20))) + '\n')


def build(problem, params=(), data_dir=None):
  # pylint: disable=g-import-not-at-top
  from t2t_delta.runtime import gin_config, run_setup
  gin_config.parse_gin([], list(params))
  model = 'delta_vae_image' if problem.startswith('image') else 'delta_vae_text'
  setup = run_setup.RunSetup(problem, model, output_dir=None, data_dir=data_dir)
  setup.build()
  return setup.problem


def pipeline_rate(problem, batches, rounds):
  """Best examples/s pulling `batches` training batches through the trainer's pipeline."""
  from t2t_delta.train import inputs  # pylint: disable=g-import-not-at-top
  iterator = iter(inputs.train_dataset(problem, BATCH, seed=0))
  for _ in range(10):
    next(iterator)
  best = float('inf')
  for _ in range(rounds):
    start = time.perf_counter()
    for _ in range(batches):
      batch = next(iterator)
    tf.nest.map_structure(lambda t: t.numpy(), batch)
    best = min(best, time.perf_counter() - start)
  return batches * BATCH / best


def step_rate(config_name, rounds):
  m = common.measured(config_name, False)
  if 1 not in m.seconds_per_step:
    common.interleaved_best([common.step_timer(m, 1)], rounds)
  return m.config.batch_size / m.seconds_per_step[1]


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batches', type=int, default=200)
  parser.add_argument('--rounds', type=int, default=3)
  args = parser.parse_args(argv)
  print(f'== input_pipeline: inputs.train_dataset examples/s (batch {BATCH}) vs the '
        'training step')
  print(common.machine_line())
  results = []
  with common.temp_dir() as files_dir, common.temp_dir() as text_dir:
    write_image_files(files_dir)
    write_text_lines(text_dir)
    cases = (
        ('image_synthetic', ('image_synthetic.num_train = 2048',), None, 'image_tiny'),
        ('text_synthetic', ('text_synthetic.num_train = 2048',), None, 'text_tiny'),
        ('image_files', (), files_dir, 'image_tiny'),
        ('text_lines', ('text_lines.vocab_size = 200', 'text_lines.max_length = 32'),
         text_dir, 'text_tiny'),
    )
    for problem_name, params, data_dir, config_name in cases:
      start = time.perf_counter()
      problem = build(problem_name, params, data_dir)
      pipe = pipeline_rate(problem, args.batches, args.rounds)
      setup_s = time.perf_counter() - start
      results.append(dict(problem=problem_name, pipeline=pipe, config=config_name,
                          setup_s=setup_s))
  step_rates = {name: step_rate(name, args.rounds)
                for name in sorted({r['config'] for r in results})}
  print(f'{"problem":16s} {"pipeline ex/s":>13s} {"step config":>12s} '
        f'{"step ex/s":>9s} {"pipeline/step":>13s}')
  for r in results:
    r['step'] = step_rates[r['config']]
    r['ratio'] = r['pipeline'] / r['step']
    print(f'{r["problem"]:16s} {r["pipeline"]:13.0f} {r["config"]:>12s} '
          f'{r["step"]:9.1f} {r["ratio"]:13.0f}{"" if r["ratio"] >= 10 else "  LOW"}',
          flush=True)
  RESULTS.extend(results)
  return results


if __name__ == '__main__':
  main()
