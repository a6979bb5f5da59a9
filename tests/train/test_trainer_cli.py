"""End-to-end trainer behaviour through the command line."""

import json
import os
import re

import pytest

TRAINER = 't2t_delta.train.cli'
FAST = ['--gin_param=train.batch_size=16', '--gin_param=train.log_every=1',
        '--gin_param=vae_conv.hidden=8', '--gin_param=vae_conv.latent_dim=4']


def _metrics(output_dir):
  with open(os.path.join(output_dir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def _losses(stdout, term='loss'):
  return {int(m.group(1)): float(m.group(2))
          for m in re.finditer(r'step (\d+)/\d+ .*? %s ([\d.]+)' % term, stdout)}


def test_registry_help_lists_problems_and_models(cli):
  proc = cli(TRAINER, ['--registry_help'], check=0)
  assert 'tiny_images' in proc.stdout and 'vae_conv' in proc.stdout
  assert 'Problems:' in proc.stdout and 'Models:' in proc.stdout


@pytest.mark.parametrize('flag,kind', [('--problem=nope', 'problem'),
                                       ('--model=nope', 'model')])
def test_unknown_name_is_one_line_error(cli, tmp_path, flag, kind):
  args = ['--problem=tiny_images', '--model=vae_conv', f'--output_dir={tmp_path}/run', flag]
  proc = cli(TRAINER, args)
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1, proc.stderr
  assert f"unknown {kind} 'nope'" in lines[0]
  assert ('tiny_images' if kind == 'problem' else 'vae_conv') in lines[0]
  assert 'Traceback' not in proc.stderr
  assert not os.path.exists(tmp_path / 'run')


def test_train_resume_continues_step_count(cli, tmp_path):
  out = str(tmp_path / 'run')
  base = ['--problem=tiny_images', '--model=vae_conv', f'--output_dir={out}'] + FAST
  first = cli(TRAINER, base + ['--train_steps=6', '--gin_param=train.checkpoint_every_steps=3'],
              check=0)
  assert max(_losses(first.stdout)) == 6
  records = _metrics(out)
  assert {r['split'] for r in records} == {'eval', 'test'}
  test_line = [r for r in records if r['split'] == 'test'][0]
  assert test_line['step'] == 6 and test_line['unit'] == 'bits/dim'
  assert test_line['nelbo'] == pytest.approx(test_line['rate'] + test_line['distortion'])
  assert os.path.exists(os.path.join(out, 'config.gin'))
  with open(os.path.join(out, 'run.json')) as f:
    assert json.load(f)['data'] == {'num_examples': {'train': 256, 'eval': 48, 'test': 48}}
  second = cli(TRAINER, base + ['--train_steps=9'], check=0)
  assert 'resuming from' in second.stdout and 'at step 6 of 9' in second.stdout
  steps = sorted(_losses(second.stdout))
  assert steps == [7, 8, 9], second.stdout
  # Rerunning a finished command trains no further and keeps the step.
  third = cli(TRAINER, base + ['--train_steps=9'], check=0)
  assert not _losses(third.stdout)
  assert _metrics(out)[-1]['step'] == 9


def test_resumed_run_matches_uninterrupted_run(cli, tmp_path):
  """Optimizer state, step, data position and RNG all restored: identical metrics."""
  common = ['--problem=tiny_images', '--model=vae_conv'] + FAST
  whole = str(tmp_path / 'whole')
  cli(TRAINER, common + [f'--output_dir={whole}', '--train_steps=8'], check=0)
  split = str(tmp_path / 'split')
  cli(TRAINER, common + [f'--output_dir={split}', '--train_steps=5',
                         '--gin_param=train.final_splits=()'], check=0)
  cli(TRAINER, common + [f'--output_dir={split}', '--train_steps=8'], check=0)
  a = [r for r in _metrics(whole) if r['split'] == 'test'][-1]
  b = [r for r in _metrics(split) if r['split'] == 'test'][-1]
  assert a['step'] == b['step'] == 8
  assert a['nelbo'] == pytest.approx(b['nelbo'], rel=1e-5)
  assert a['rate'] == pytest.approx(b['rate'], rel=1e-4)


def test_mirrored_two_cpu_replicas_matches_single_device(cli, tmp_path):
  common = ['--problem=tiny_images', '--model=vae_conv', '--train_steps=2',
            '--gin_param=train.final_splits=()'] + FAST
  single = cli(TRAINER, common + [f'--output_dir={tmp_path}/cpu', '--strategy=cpu'],
               check=0)
  mirrored = cli(TRAINER, common + [f'--output_dir={tmp_path}/mirrored',
                                    '--strategy=mirrored', '--cpu_devices=2'], check=0)
  # Same examples and initial weights. The analytic rate is identical; the distortion
  # differs only by the Monte Carlo noise of z, which each replica draws for its half.
  rate_a, rate_b = _losses(single.stdout, 'rate'), _losses(mirrored.stdout, 'rate')
  assert rate_a[1] == pytest.approx(rate_b[1], rel=1e-5)
  a, b = _losses(single.stdout), _losses(mirrored.stdout)
  assert a[1] == pytest.approx(b[1], rel=1e-4)
  assert a[2] == pytest.approx(b[2], rel=1e-4)


def test_same_seed_gives_identical_metrics(cli, tmp_path):
  common = ['--problem=tiny_images', '--model=vae_conv', '--train_steps=4', '--seed=7'] + FAST
  cli(TRAINER, common + [f'--output_dir={tmp_path}/a'], check=0)
  cli(TRAINER, common + [f'--output_dir={tmp_path}/b'], check=0)
  strip = lambda rs: [{k: v for k, v in r.items()} for r in rs]
  assert strip(_metrics(f'{tmp_path}/a')) == strip(_metrics(f'{tmp_path}/b'))


def test_text_problem_trains_and_reports_nats_per_token(cli, tmp_path):
  out = str(tmp_path / 'text')
  cli(TRAINER, ['--problem=tiny_text', '--model=vae_bow', f'--output_dir={out}',
                '--train_steps=3', '--gin_param=train.batch_size=8'], check=0)
  test_line = [r for r in _metrics(out) if r['split'] == 'test'][0]
  assert test_line['unit'] == 'nats/token'
  assert test_line['num_examples'] == 48
