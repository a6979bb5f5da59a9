r"""Posterior collapse, judged by information: δ-VAE vs a N(0, 1)-prior VAE.

Trains the same architecture (`gin/image_tiny.gin`, plus any --gin_file) on
`image_synthetic` (or --problem), with the same steps and seed:

  * δ-VAE: AR(1) prior as configured there, plain ELBO; committed rate δ;
  * VAE:   the same encoder and decoder with a N(0, 1) prior (alpha = 0), plain ELBO;
  * `ar_image`: the same decoder without latents (its −ELBO is its exact NLL).

then evaluates both on the test split with the information diagnostics of
`t2t_delta.evaluate.information` (bits per image): the mutual information I_q(x; z),
the decoder's swap gain (what it gains from its own latent over other images') and
the contrastive lower bound on I(x; z) with the decoder as critic, beside the rate.

A rate ≥ δ proves nothing (a posterior that ignores x attains δ), so the verdict is on
information. The paper's claim holds when

  * the δ-VAE is informative: swap gain and contrastive bound both at least half the
    entropy of the problem's ground-truth factors and at least 4 bits per image;
  * it loses almost no likelihood for it: its test −ELBO within 1% of `ar_image`'s NLL;
  * the VAE collapsed: rate below 1% of δ and |swap gain| below 0.1 bits per image.

With --seeds=0,1,2 every seed trains its own three runs (under OUTPUT_ROOT/seed_N/)
and the verdict must hold for each of them. Exit status 0 exactly when it does, 1
otherwise. Measured results are in examples/README.md.

    python examples/posterior_collapse.py --output_root=runs/collapse
    python examples/posterior_collapse.py --seeds=0,1,2 --output_root=runs/collapse
    python examples/posterior_collapse.py --problem=image_shapes_lit \
        --gin_file=gin/ablations/tiny_latents_used.gin --output_root=runs/collapse_lit
"""

import argparse
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = {   # name: (model, extra flags)
    'delta_vae': ('delta_vae_image', []),
    'standard_normal_vae': ('delta_vae_image',
                            ["--gin_param=delta_vae_image.prior_type='standard_normal'"]),
    'ar_image': ('ar_image', []),
}
MAX_NELBO_GAP = 0.01
MIN_GAIN_BITS = 4.0
MIN_GAIN_FRACTION = 0.5
COLLAPSED_RATE_FRACTION = 0.01
COLLAPSED_GAIN_BITS = 0.1


def train(name, model, extra, seed, args):
  output_dir = os.path.join(args.output_root, f'seed_{seed}', name)
  command = [sys.executable, '-m', 't2t_delta.train.cli', f'--problem={args.problem}',
             f'--model={model}', '--gin_file=gin/image_tiny.gin']
  command += [f'--gin_file={path}' for path in args.gin_file]
  command += [f'--output_dir={output_dir}', f'--seed={seed}'] + extra
  if args.steps:
    command.append(f'--train_steps={args.steps}')
  print('$', ' '.join(command[2:]), flush=True)
  subprocess.run(command, check=True, cwd=REPO)
  return output_dir


def evaluate(output_dir, seed, args):
  """The test record with the information diagnostics (appended to metrics.jsonl)."""
  from t2t_delta.evaluate import evaluator  # pylint: disable=g-import-not-at-top
  ev = evaluator.Evaluator(output_dir)
  options = evaluator.Options(nll_samples=0, info_negatives=args.negatives,
                              info_examples=args.examples, probe=False,
                              recon_examples=args.recon_examples, seed=seed)
  return ev.evaluate(['test'], options, log=None)[0], ev.problem


def judge(seed, records, problem, args):
  """Prints one seed's table and verdict; True when the paper's contrast holds."""
  baseline = records['ar_image']
  latent_runs = {name: r for name, r in records.items() if name != 'ar_image'}
  entropy = problem.factor_entropy_bits()
  delta = records['delta_vae']
  dims = 1
  for side in problem.image_shape:
    dims *= side
  committed_bits = delta['committed_rate'] * dims
  print(f'\n{args.problem} seed {seed}, test split, bits per image; ground-truth '
        f'factors: {entropy:.2f} bits; δ = {committed_bits:.2f} bits')
  print(f'{"run":>20} {"rate":>7} {"MI":>6} {"swap gain":>14} {"contrastive":>16} '
        f'{"-ELBO (bits/dim)":>17}')
  for name, r in latent_runs.items():
    print(f'{name:>20} {r["rate_bits_per_example"]:7.2f} {r["mi_bits"]:6.2f} '
          f'{r["swap_gain_bits"]:7.2f} ± {r["swap_gain_stderr_bits"]:4.2f} '
          f'{r["contrastive_bits"]:7.2f} ± {r["contrastive_stderr_bits"]:4.2f} '
          f'{r["nelbo"]:17.4f}')
  print(f'{"ar_image":>20} {0:7.2f} {"—":>6} {"—":>14} {"—":>16} '
        f'{baseline["nelbo"]:17.4f}')
  print(f'(a model that ignores its latents scores 0 on MI, swap gain and contrastive; '
        f'the contrastive bound is at most {delta["contrastive_max_bits"]:.1f} bits '
        f'with K = {delta["contrastive_negatives"]}, MI at most '
        f'{delta["mi_max_bits"]:.1f} with N = {delta["mi_examples"]})')
  need = max(MIN_GAIN_BITS, MIN_GAIN_FRACTION * entropy)
  informative = (delta['swap_gain_bits'] >= need and delta['contrastive_bits'] >= need)
  vae = records['standard_normal_vae']
  collapsed = (vae['rate_bits_per_example'] < COLLAPSED_RATE_FRACTION * committed_bits
               and abs(vae['swap_gain_bits']) < COLLAPSED_GAIN_BITS)
  for name, r in latent_runs.items():
    for label in problem.label_keys:
      if f'recon_{label}_agreement' in r:
        print(f'{name}: decodings keep the source\'s {label}: '
              f'{r[f"recon_{label}_agreement"]:.3f} (another image\'s z: '
              f'{r[f"recon_{label}_agreement_other_z"]:.3f}; classifier on real images: '
              f'{r[f"recon_{label}_classifier_accuracy"]:.3f})')
  gap = delta['nelbo'] / baseline['nelbo'] - 1.0
  close = gap <= MAX_NELBO_GAP
  print(f'δ-VAE informative (swap gain and contrastive >= {need:.2f} bits): '
        f'{informative}')
  print(f'δ-VAE −ELBO within {MAX_NELBO_GAP:.0%} of ar_image\'s NLL: {close} '
        f'({gap:+.2%})')
  print(f'N(0,1) VAE collapsed (rate < {COLLAPSED_RATE_FRACTION * committed_bits:.2f} '
        f'bits and |swap gain| < {COLLAPSED_GAIN_BITS}): {collapsed}')
  print(json.dumps({name: {k: r[k] for k in ('rate_bits_per_example', 'mi_bits',
                                               'swap_gain_bits', 'contrastive_bits',
                                               'nelbo') if k in r}
                    for name, r in records.items()}))
  return informative and close and collapsed


def seed_list(text):
  try:
    seeds = [int(part) for part in text.split(',') if part.strip()]
  except ValueError:
    raise argparse.ArgumentTypeError(
        f'--seeds takes comma-separated integers, e.g. 0,1,2; got {text!r}') from None
  if not seeds:
    raise argparse.ArgumentTypeError('--seeds needs at least one seed, e.g. 0')
  return seeds


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--steps', type=int, default=None,
                      help='training steps (default: gin/image_tiny.gin)')
  parser.add_argument('--seeds', type=seed_list, default=[0],
                      help='comma-separated seeds; the contrast must hold for each '
                           '(default: 0)')
  parser.add_argument('--problem', default='image_synthetic',
                      help='an embedded image problem with ground-truth factors')
  parser.add_argument('--gin_file', action='append', default=[],
                      help='gin file applied after gin/image_tiny.gin to both runs '
                           '(repeatable), e.g. gin/ablations/tiny_latents_used.gin')
  parser.add_argument('--negatives', type=int, default=127,
                      help='K of the swap gain and contrastive bound')
  parser.add_argument('--examples', type=int, default=512,
                      help='test examples of the information diagnostics')
  parser.add_argument('--recon_examples', type=int, default=256,
                      help='test images whose decodings are classified (0: off)')
  parser.add_argument('--output_root', default='runs/collapse',
                      help='runs go to OUTPUT_ROOT/seed_N/{delta_vae,'
                           'standard_normal_vae,ar_image}')
  args = parser.parse_args()
  verdicts = {}
  for seed in args.seeds:
    records = {}
    for name, (model, extra) in RUNS.items():
      records[name], problem = evaluate(train(name, model, extra, seed, args), seed,
                                        args)
    verdicts[seed] = judge(seed, records, problem, args)
  print('\nThe contrast holds: ' + ', '.join(
      f'seed {seed} {"yes" if ok else "NO"}' for seed, ok in verdicts.items()))
  return 0 if all(verdicts.values()) else 1


if __name__ == '__main__':
  sys.exit(main())
