r"""A small rate–distortion sweep on the embedded image problem, end to end on CPU.

Trains nine runs of the same small architecture (gin/image_tiny.gin +
gin/ablations/tiny_paper_conditioning.gin + gin/ablations/sweep_tiny.gin, the paper's
conditioning) on `image_shapes`:

* δ-VAE (AR(1) prior) committing 3 rates (`committed_rate_bits`, one common alpha),
* β-VAE (standard-normal prior) at 3 values of β,
* free bits (standard-normal prior) at 3 values of λ (nats per latent dimension),

then evaluates each run with t2t-delta-eval (importance-sampled NLL, linear probes of
the problem's four factors) and writes the comparison with t2t-delta-report:

    python examples/rate_distortion_sweep.py --out=runs/rd_sweep
    # -> runs/rd_sweep/report/{rate_distortion.png, probe_vs_rate.png, report.md}

Every run is resumable: rerunning the command skips finished work. Use --quick for a
reduced sweep (8x8 images, fewer steps and evaluation examples) on a busy machine.

`--config=shipped` sweeps the README's main-job configuration instead (gin/image_tiny.gin
alone: the informative posterior start and z in every gated block) on
`image_synthetic`, whose band colour and height a latent is worth carrying:

    python examples/rate_distortion_sweep.py --config=shipped --steps=1000 \
        --nll_samples=16 --max_examples=256 --out=runs/rd_shipped

--gin_param adds a binding to every run (examples/README.md's table for the shipped
configuration was measured with its former constant learning rate:
--gin_param=train.learning_rate=@linear_warmup_constant).
"""

import argparse
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DELTA_BITS = (10.0, 20.0, 40.0)
QUICK_DELTA_BITS = (5.0, 10.0, 20.0)   # 8 rows x 4 dims commit at most 36.6 bits
BETAS = (0.1, 0.3, 0.6)
LAMBDAS = (1.0, 2.0, 4.0)
CONFIGS = {   # --config: problem, gin files
    'paper': ('image_shapes', ('gin/image_tiny.gin',
                               'gin/ablations/tiny_paper_conditioning.gin',
                               'gin/ablations/sweep_tiny.gin')),
    'shipped': ('image_synthetic', ('gin/image_tiny.gin',)),
}


def sweep(delta_bits=DELTA_BITS):
  """`[(name, gin params)]` of the nine runs."""
  runs = []
  for bits in delta_bits:
    runs.append((f'delta_{bits:g}bits', [
        'delta_vae_image.alpha_lo = None',
        f'delta_vae_image.committed_rate_bits = {bits}']))
  for beta in BETAS:
    runs.append((f'beta_vae_{beta:g}', [
        "delta_vae_image.prior_type = 'standard_normal'",
        'train.objective = @beta_vae', f'beta_vae.beta = {beta}']))
  for lam in LAMBDAS:
    runs.append((f'free_bits_{lam:g}', [
        "delta_vae_image.prior_type = 'standard_normal'",
        'train.objective = @free_bits', f'free_bits.lambda_nats = {lam}']))
  return runs


def _run(module, args, log_path):
  command = [sys.executable, '-m', module] + args
  print(f'$ {" ".join(command[2:])}', flush=True)
  start = time.time()
  with open(log_path, 'a') as log:
    proc = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
  print(f'  ({time.time() - start:.0f} s, exit {proc.returncode}, log {log_path})',
        flush=True)
  if proc.returncode:
    raise SystemExit(f'{module} failed; see {log_path}')


def _has_eval(run_dir):
  path = os.path.join(run_dir, 'metrics.jsonl')
  return os.path.exists(path) and '"evaluator"' in open(path).read()


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', default='runs/rd_sweep', help='sweep directory')
  parser.add_argument('--steps', type=int, default=None, help='training steps per run')
  parser.add_argument('--image_size', type=int, default=None,
                      help='side of the synthetic images (16 by default)')
  parser.add_argument('--nll_samples', type=int, default=None)
  parser.add_argument('--max_examples', type=int, default=None,
                      help='examples per split for the evaluation')
  parser.add_argument('--only', default='', help='comma-separated run names to do')
  parser.add_argument('--quick', action='store_true',
                      help='8x8 images, 300 steps, 256 evaluation examples, K=16')
  parser.add_argument('--config', choices=sorted(CONFIGS), default='paper',
                      help="'paper': image_shapes with the paper's conditioning and the "
                           "sweep's small model; 'shipped': image_synthetic with "
                           'gin/image_tiny.gin as the README trains it')
  parser.add_argument('--gin_param', action='append', default=[],
                      help='gin binding applied to every run after the sweep\'s own '
                           '(repeatable)')
  args = parser.parse_args()
  problem, gin_files = CONFIGS[args.config]
  steps = args.steps or (300 if args.quick else 500)
  if problem == 'image_shapes':
    image_size = args.image_size or (8 if args.quick else 16)
  elif args.image_size:
    parser.error(f'--image_size applies to image_shapes only; {problem} is 16x16.')
  else:
    image_size = 16
  nll_samples = args.nll_samples or (16 if args.quick else 64)
  max_examples = args.max_examples or (256 if args.quick else 512)
  os.makedirs(args.out, exist_ok=True)
  only = set(filter(None, args.only.split(',')))
  run_dirs = []
  for name, params in sweep(QUICK_DELTA_BITS if image_size <= 8 else DELTA_BITS):
    if only and name not in only:
      continue
    run_dir = os.path.join(args.out, name)
    run_dirs.append(run_dir)
    log_path = os.path.join(args.out, f'{name}.log')
    common = ([f'--gin_param=image_shapes.image_size = {image_size}']
              if problem == 'image_shapes' else [])
    _run('t2t_delta.train.cli', [
        f'--problem={problem}', '--model=delta_vae_image'] +
        [f'--gin_file={path}' for path in gin_files] + [
        f'--output_dir={run_dir}', f'--train_steps={steps}',
        '--eval_every=0', '--gin_param=train.log_every=50',
        '--gin_param=train.final_splits = ()'] +
         common + [f'--gin_param={p}' for p in params + args.gin_param],
        log_path)
    if not _has_eval(run_dir):
      _run('t2t_delta.evaluate.cli', [
          f'--output_dir={run_dir}', '--splits=test', f'--nll_samples={nll_samples}',
          f'--max_examples={max_examples}', f'--probe_examples={4 * max_examples}',
          '--batch_size=32', '--nll_chunk=8'], log_path)
  _run('t2t_delta.evaluate.report', run_dirs + [
      f'--out={os.path.join(args.out, "report")}',
      f'--title=Rate–distortion on {problem}'],
       os.path.join(args.out, 'report.log'))
  with open(os.path.join(args.out, 'report', 'report.md')) as f:
    print(f.read())


if __name__ == '__main__':
  main()
