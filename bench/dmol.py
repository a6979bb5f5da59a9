r"""Discretized logistic mixture: library log-prob + gradient vs a direct formula.

    python -m bench.dmol [--batch=8] [--size=32] [--components=32] [--rounds=5] [--jit]

Times log p(x) and its gradient with respect to the network output, for a batch of
RGB images with K mixture components (default: the cifar10_ablation head, batch 8,
32x32x3, K = 32), computed by

* the library: `t2t_delta.distributions.dmol` (closed-form bin masses, see its
  docstring), through `dmol_from_network_output(...).log_prob`;
* the reference below, the PixelCNN++ likelihood (Salimans et al. 2017, eqs. 2-3)
  written directly: per channel P(x) = sigmoid((x + b - mu) / s) - sigmoid((x - b - mu)
  / s) with b half a bin, the edge bins extended to -inf / +inf, green and blue means
  shifted linearly by the earlier channels, and the pixel likelihood the mixture of the
  channel products; the difference of sigmoids is floored at 1e-12 before the log.

Both are `tf.function`s on the same inputs and are timed interleaved; `lib/ref` is the
library's images/s over the reference's. Agreement: per-image log-probs of both in
float32 against the reference evaluated in float64 (accurate here, since the
parameters keep every bin mass far above float64 round-off), and the gradients of the
two float32 implementations against each other.
"""

import argparse
import time

import numpy as np

from bench import common

tf = common.tf

from t2t_delta.distributions import dmol  # noqa: E402

RESULTS = []


def reference_log_prob(values, logits, locs, log_scales, coeffs):
  """PixelCNN++ log-likelihood per image, written from the paper's formula.

  values `[B, H, W, 3]` in 0..255; logits `[B, H, W, K]`; locs, log_scales
  `[B, H, W, 3, K]`; coeffs `[B, H, W, 3, K]` raw (tanh applied here).
  """
  dtype = locs.dtype
  v = tf.cast(values, dtype)[..., tf.newaxis]                    # [B, H, W, 3, 1]
  x = v / 127.5 - 1.
  s = tf.exp(tf.maximum(log_scales, -7.))
  c = tf.tanh(coeffs)
  mu_r = locs[..., 0, :]
  mu_g = locs[..., 1, :] + c[..., 0, :] * x[..., 0, :]
  mu_b = locs[..., 2, :] + c[..., 1, :] * x[..., 0, :] + c[..., 2, :] * x[..., 1, :]
  mu = tf.stack([mu_r, mu_g, mu_b], axis=-2)
  half_bin = 1. / 255.
  cdf_plus = tf.sigmoid((x + half_bin - mu) / s)
  cdf_minus = tf.sigmoid((x - half_bin - mu) / s)
  cdf_plus = tf.where(v > 254.5, tf.ones_like(cdf_plus), cdf_plus)     # x = 255: +inf
  cdf_minus = tf.where(v < 0.5, tf.zeros_like(cdf_minus), cdf_minus)   # x = 0: -inf
  log_p_channels = tf.math.log(tf.maximum(cdf_plus - cdf_minus, 1e-12))
  log_pi = tf.nn.log_softmax(logits, axis=-1)
  log_p_pixel = tf.reduce_logsumexp(log_pi + tf.reduce_sum(log_p_channels, -2), -1)
  return tf.reduce_sum(log_p_pixel, axis=[1, 2])


def library_log_prob(values, output, num_components):
  return dmol.dmol_from_network_output(output, 3, num_components).log_prob(values)


def reference_from_output(values, output, num_components):
  logits, locs, log_scales, coeffs = dmol.split_network_output(output, 3, num_components)
  return reference_log_prob(values, logits, locs, log_scales, coeffs)


def make_inputs(batch, size, k, seed=0):
  """Network output `[B, H, W, 10K]` with moderate scales and pixel values near a mean."""
  rng = np.random.default_rng(seed)
  logits = rng.normal(0., 1., (batch, size, size, k))
  locs = rng.uniform(-0.8, 0.8, (batch, size, size, 3, k))
  log_scales = rng.uniform(-3., -1., (batch, size, size, 3, k))
  coeffs = rng.normal(0., 0.5, (batch, size, size, 3, k))
  blocks = np.concatenate([locs, log_scales, coeffs], axis=-1).reshape(
      batch, size, size, 9 * k)
  output = np.concatenate([logits, blocks], axis=-1).astype(np.float32)
  # Pixel values: near the first component's means, some on the edge bins 0 and 255.
  values = np.round((locs[..., 0] + rng.normal(0., 0.1, locs.shape[:-1]) + 1.) * 127.5)
  values = np.clip(values, 0, 255)
  edge = rng.uniform(size=values.shape)
  values[edge < 0.02] = 0
  values[edge > 0.98] = 255
  return tf.constant(values.astype(np.int32)), tf.constant(output)


def value_and_grad_fn(log_prob_fn, k, jit):
  def fn(values, output):
    with tf.GradientTape() as tape:
      tape.watch(output)
      lp = log_prob_fn(values, output, k)
      total = tf.reduce_sum(lp)
    return lp, tape.gradient(total, output)
  return tf.function(fn, jit_compile=jit)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batch', type=int, default=8)
  parser.add_argument('--size', type=int, default=32)
  parser.add_argument('--components', type=int, default=32)
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--jit', action='store_true', help='compile both with XLA.')
  args = parser.parse_args(argv)
  b, k = args.batch, args.components
  print(f'== dmol: log-prob + gradient, batch {b}, {args.size}x{args.size}x3, K={k}, '
        f'jit_compile={args.jit}')
  print(common.machine_line())
  values, output = make_inputs(b, args.size, k)
  lib = value_and_grad_fn(library_log_prob, k, args.jit)
  ref = value_and_grad_fn(reference_from_output, k, args.jit)
  lib_lp, lib_grad = lib(values, output)
  ref_lp, ref_grad = ref(values, output)
  exact = reference_from_output(values, tf.cast(output, tf.float64), k).numpy()
  rel = lambda a: float(np.max(np.abs(a - exact) / np.abs(exact)))
  grad_diff = float(tf.reduce_max(tf.abs(lib_grad - ref_grad)) /
                    tf.reduce_max(tf.abs(ref_grad)))

  def timer(fn):
    def run():
      start = time.perf_counter()
      lp, grad = fn(values, output)
      grad.numpy()
      return time.perf_counter() - start
    return run

  t_lib, t_ref = common.interleaved_best([timer(lib), timer(ref)], args.rounds)
  r = dict(lib_s=t_lib, ref_s=t_ref, ratio=t_ref / t_lib, lib_rel=rel(lib_lp.numpy()),
           ref_rel=rel(ref_lp.numpy()), grad_rel=grad_diff,
           nats_per_image=float(-np.mean(exact)))
  print(f'{"":10s} {"ms/batch":>9s} {"images/s":>9s} {"max rel err vs float64":>22s}')
  print(f'{"library":10s} {t_lib * 1e3:9.1f} {b / t_lib:9.1f} {r["lib_rel"]:22.2e}')
  print(f'{"reference":10s} {t_ref * 1e3:9.1f} {b / t_ref:9.1f} {r["ref_rel"]:22.2e}')
  print(f'lib/ref throughput {r["ratio"]:.2f}; gradient max |lib - ref| / max |ref| = '
        f'{grad_diff:.1e}; mean -log p = {r["nats_per_image"]:.1f} nats/image')
  ok = r['lib_rel'] < 1e-5 and grad_diff < 1e-3
  print('agreement: ' + ('ok' if ok else 'MISMATCH'))
  RESULTS.append(r)
  return r


if __name__ == '__main__':
  main()
