r"""Images per second of cached vs naive image sampling at 32x32x3.

    python -m bench.image_sampling [--batch_size=16] [--configs=image_tiny,cifar10_ablation]
        [--naive_pixels=8] [--ablation_naive_pixels=1] [--jit]

Builds `delta_vae_image` with the decoder architecture of each gin file
(`gin/image_tiny.gin`, `gin/cifar10_ablation.gin`) on a data-less 32x32x3 problem,
with random weights, draws z from the AR(1) prior and samples a batch with

* `image_sampler.sample_cached`: row caches for the convolutional stacks and
  key/value caches for self- and cross-attention, one pixel per loop iteration;
* `image_sampler.sample_naive`: the whole decoder run on the canvas per pixel.

Both run in a compiled `tf.while_loop` after a zero-pixel warm-up call that traces
(and, with --jit, compiles) the loop; model construction and warm-up are not timed.
The cached sampler generates every pixel. The naive sampler's iterations all cost
the same (a full forward pass over the static canvas, whatever the pixel), so to
keep the run short it is timed over the first `--naive_pixels` pixels (a quarter row;
for the ablation architecture, whose forward pass at batch 16 takes seconds, over
the first `--ablation_naive_pixels`) and its full-image time is the per-pixel time
multiplied by H * W = 1024; the output says over how many pixels it was timed. The ratio is cached images/s over naive
images/s, both measured in this process.
"""

import argparse
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import gin  # noqa: E402
import tensorflow as tf  # noqa: E402

from t2t_delta import registry  # noqa: E402
from t2t_delta.decode import image_sampler  # noqa: E402
from t2t_delta.problems import base as problems_base  # noqa: E402
from t2t_delta.runtime import gin_config  # noqa: E402

IMAGE_SHAPE = (32, 32, 3)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Shape32(problems_base.ImageProblem):
  """A data-less 32x32x3 problem: only the shape is needed to build a model."""

  registered_name = 'shape_32x32x3'

  @property
  def image_shape(self):
    return IMAGE_SHAPE


def build(config):
  """`delta_vae_image` from `gin/<config>.gin` at 32x32x3, random weights."""
  gin_config.parse_gin([os.path.join(REPO, 'gin', f'{config}.gin')])
  try:
    return registry.model('delta_vae_image')(_Shape32())
  finally:
    gin.clear_config()


def _timed(fn):
  start = time.perf_counter()
  fn().numpy()
  return time.perf_counter() - start


def measure(config, batch_size, naive_pixels, jit_compile=False):
  """Dict with images/s of both samplers (naive extrapolated from `naive_pixels`)."""
  model = build(config)
  height, width, _ = IMAGE_SHAPE
  total = height * width
  z = model.prior().sample(batch_size, seed=tf.constant([0, 1]))
  seed = tf.constant([5, 6])
  run = lambda fn, n: (lambda: fn(model, z, seed, num_pixels=n,
                                  jit_compile=jit_compile))
  _timed(run(image_sampler.sample_cached, 0))          # trace (and compile) only
  cached = _timed(run(image_sampler.sample_cached, total))
  _timed(run(image_sampler.sample_naive, 0))
  naive_part = _timed(run(image_sampler.sample_naive, naive_pixels))
  naive = naive_part / naive_pixels * total
  return {'config': config, 'cached_s': cached, 'naive_s': naive,
          'naive_pixels': naive_pixels, 'naive_part_s': naive_part,
          'cached_ips': batch_size / cached, 'naive_ips': batch_size / naive,
          'ratio': naive / cached}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batch_size', type=int, default=16)
  parser.add_argument('--configs', default='image_tiny,cifar10_ablation')
  parser.add_argument('--naive_pixels', type=int, default=8,
                      help='pixels over which the naive sampler is timed (image_tiny).')
  parser.add_argument('--ablation_naive_pixels', type=int, default=1,
                      help='pixels over which the naive sampler is timed for '
                      'cifar10_ablation.')
  parser.add_argument('--jit', action='store_true', help='compile both loops with XLA.')
  args = parser.parse_args(argv)
  width = IMAGE_SHAPE[1]
  print(f'delta_vae_image sampling at {"x".join(map(str, IMAGE_SHAPE))}, batch '
        f'{args.batch_size}, random weights, XLA {"on" if args.jit else "off"}; '
        'tf.config threads: '
        f'{tf.config.threading.get_intra_op_parallelism_threads() or "default"}')
  print(f'{"config":18s} {"cached img/s":>13s} {"naive img/s":>12s} {"ratio":>8s}  '
        'naive timed over')
  for config in args.configs.split(','):
    pixels = (args.ablation_naive_pixels if config == 'cifar10_ablation'
              else args.naive_pixels)
    r = measure(config, args.batch_size, pixels, args.jit)
    print(f'{config:18s} {r["cached_ips"]:13.3f} {r["naive_ips"]:12.4f} '
          f'{r["ratio"]:7.1f}x  first {pixels} pixels ({r["naive_part_s"]:.1f} s), '
          f'extrapolated x{width * IMAGE_SHAPE[0] / pixels:.0f}; cached '
          f'{r["cached_s"]:.1f} s per batch', flush=True)


if __name__ == '__main__':
  main()
