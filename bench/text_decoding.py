r"""Tokens per second of cached vs naive text sampling, LM1B-sized decoder.

    python -m bench.text_decoding [--batch_size=16] [--lengths=128,256] [--jit]

Builds `delta_vae_text` with the table-5 architecture (4 layers, hidden 512, filter
2048, 8 heads, z = 2 dims per token) and random weights over a 32000-token vocabulary,
draws z from the AR(1) prior, and samples `length` tokens for a batch with

* `sample_cached`: the KV-cached decoder, one position per loop iteration;
* `sample_naive`: the whole decoder recomputed over the token buffer per position.

Both run without early stop at EOS in a compiled `tf.while_loop`, after a one-position
warm-up call that traces (and, with --jit, compiles) the loop. Model construction and
warm-up are not timed. The naive sampler always
runs the static-length buffer of `length` positions, so each of its iterations costs the
same whatever the position; to keep the run short it is timed over the first
`--naive_steps` positions and its full-length time is that per-position time multiplied
by `length` (pass --naive_steps=0 to time it over the full length instead). The ratio is
cached tokens/s over naive tokens/s, measured in the same process.
"""

import argparse
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # noqa: E402

from t2t_delta.decode import text_sampler  # noqa: E402
from t2t_delta.models.delta_vae_text import DeltaVaeText  # noqa: E402
from t2t_delta.problems.base import TextProblem  # noqa: E402

LM1B = dict(num_layers=4, hidden_size=512, filter_size=2048, num_heads=8,
            dropout_rate=0.1, latent_dim=2, alpha_lo=0.2, alpha_hi=0.4, aux_hidden=512)


class _RandomTextProblem(TextProblem):
  """Shapes only: the benchmark never reads data."""

  def __init__(self, vocab_size, max_length):
    super().__init__()
    self._vocab_size, self._max_length = vocab_size, max_length

  @property
  def vocab_size(self):
    return self._vocab_size

  @property
  def max_length(self):
    return self._max_length


def _timed(fn):
  start = time.perf_counter()
  out = fn()
  out['tokens'].numpy()
  return time.perf_counter() - start


def bench_length(length, batch_size, vocab_size, naive_steps, jit):
  model = DeltaVaeText(_RandomTextProblem(vocab_size, length), **LM1B)
  z = model.sample_prior(batch_size, tf.constant([1, 2]))
  seed = tf.constant([3, 4])
  common = dict(seed=seed, z=z, stop_at_eos=False, jit_compile=jit)

  # Warm-up: trace (and with --jit compile) each loop on a one-position run; the loop
  # length is a tensor argument, so the timed runs reuse the same function.
  warm = _timed(lambda: text_sampler.sample_cached(model, max_length=1, **common))
  warm += _timed(lambda: text_sampler.sample_naive(model, max_length=1, **common))

  cached_time = _timed(lambda: text_sampler.sample_cached(model, **common))
  steps = length if naive_steps <= 0 else min(naive_steps, length)
  naive_time = _timed(lambda: text_sampler.sample_naive(
      model, max_length=steps, **common)) * length / steps

  tokens = batch_size * length
  return dict(length=length, cached_tps=tokens / cached_time,
              naive_tps=tokens / naive_time, cached_s=cached_time, naive_s=naive_time,
              naive_steps=steps, warmup_s=warm)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batch_size', type=int, default=16)
  parser.add_argument('--lengths', default='128,256')
  parser.add_argument('--vocab_size', type=int, default=32000)
  parser.add_argument('--naive_steps', type=int, default=4,
                      help='positions the naive sampler is timed over (0: all).')
  parser.add_argument('--jit', action='store_true', help='compile the loops with XLA.')
  args = parser.parse_args(argv)
  print(f'delta_vae_text, LM1B architecture (table 5), vocab {args.vocab_size}, '
        f'batch {args.batch_size}, random weights, jit_compile={args.jit}, '
        f'{os.cpu_count()} CPUs')
  print(f'{"length":>6} {"cached tok/s":>13} {"naive tok/s":>12} {"ratio":>7} '
        f'{"cached s":>9} {"naive s":>9}  naive timed over')
  for length in (int(n) for n in args.lengths.split(',')):
    r = bench_length(length, args.batch_size, args.vocab_size, args.naive_steps,
                     args.jit)
    timed = ('all positions' if r['naive_steps'] == length
             else f'{r["naive_steps"]} positions, x{length / r["naive_steps"]:g}')
    print(f'{r["length"]:>6} {r["cached_tps"]:>13.1f} {r["naive_tps"]:>12.1f} '
          f'{r["cached_tps"] / r["naive_tps"]:>7.1f} {r["cached_s"]:>9.2f} '
          f'{r["naive_s"]:>9.2f}  {timed}', flush=True)


if __name__ == '__main__':
  main()
