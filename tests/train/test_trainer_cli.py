"""End-to-end trainer behaviour through the command line.

Every command line of this module but one runs through the trainer's own flag parsing
and `_main` in one helper process (tests/in_process.py), paying TensorFlow's start-up
once; the two-replica run needs its own process (logical CPU devices are fixed when
TensorFlow starts).
"""

import json
import os
import re

import pytest

import in_process

TRAINER = 't2t_delta.train.cli'
FAST = ['--gin_param=train.batch_size=16', '--gin_param=train.log_every=1',
        '--gin_param=vae_conv.hidden=8', '--gin_param=vae_conv.latent_dim=4']
IMAGES = ['--problem=tiny_images', '--model=vae_conv'] + FAST


def _metrics(output_dir):
  with open(os.path.join(output_dir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def _losses(stdout, term='loss'):
  return {int(m.group(1)): float(m.group(2))
          for m in re.finditer(r'step (\d+)/\d+ .*? %s ([\d.]+)' % term, stdout)}


def _rows(base):
  out = lambda name: f'--output_dir={base}/{name}'
  two_steps = IMAGES + ['--train_steps=2', '--gin_param=train.final_splits=()']
  same_seed = IMAGES + ['--train_steps=4', '--seed=7']
  return [
      ('registry_help', ['--registry_help']),
      ('unknown_problem', ['--problem=nope', '--model=vae_conv', out('unknown_problem')]),
      ('unknown_model', ['--problem=tiny_images', '--model=nope', out('unknown_model')]),
      ('resume_first', IMAGES + [out('resume'), '--train_steps=6',
                                 '--gin_param=train.checkpoint_every_steps=3']),
      ('resume_second', IMAGES + [out('resume'), '--train_steps=9']),
      ('resume_third', IMAGES + [out('resume'), '--train_steps=9']),
      ('whole', IMAGES + [out('whole'), '--train_steps=8']),
      ('split_first', IMAGES + [out('split'), '--train_steps=5',
                                '--gin_param=train.final_splits=()']),
      ('split_second', IMAGES + [out('split'), '--train_steps=8']),
      ('seed_a', same_seed + [out('seed_a')]),
      ('seed_b', same_seed + [out('seed_b')]),
      ('text', ['--problem=tiny_text', '--model=vae_bow', out('text'), '--train_steps=3',
                '--gin_param=train.batch_size=8']),
      ('single_device', two_steps + [out('cpu'), '--strategy=cpu']),
  ]


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  base = str(tmp_path_factory.mktemp('trainer_cli'))
  rows = [{'id': row_id, 'args': args} for row_id, args in _rows(base)]
  mirrored = in_process.start(TRAINER, [{'id': 'mirrored', 'args': IMAGES + [
      '--train_steps=2', '--gin_param=train.final_splits=()',
      f'--output_dir={base}/mirrored', '--strategy=mirrored', '--cpu_devices=2']}],
                              os.path.join(base, 'mirrored_rows'), mkdir=True)
  results = in_process.run(TRAINER, rows, base)
  results.update(in_process.finish(mirrored))
  return base, results


def _ok(result):
  assert result['status'] == 0, result['stdout'][-2000:] + result['stderr'][-3000:]
  return result['stdout']


def test_registry_help_lists_problems_and_models(runs):
  stdout = _ok(runs[1]['registry_help'])
  assert 'tiny_images' in stdout and 'vae_conv' in stdout
  assert 'Problems:' in stdout and 'Models:' in stdout


@pytest.mark.parametrize('kind', ['problem', 'model'])
def test_unknown_name_is_one_line_error(runs, kind):
  base, results = runs
  result = results[f'unknown_{kind}']
  assert result['status'] == 2
  lines = result['stderr'].strip().splitlines()
  assert len(lines) == 1, result['stderr']
  assert f"unknown {kind} 'nope'" in lines[0]
  assert ('tiny_images' if kind == 'problem' else 'vae_conv') in lines[0]
  assert 'Traceback' not in result['stderr']
  assert not os.path.exists(os.path.join(base, f'unknown_{kind}'))


def test_train_resume_continues_step_count(runs):
  base, results = runs
  out = os.path.join(base, 'resume')
  first = _ok(results['resume_first'])
  assert first.splitlines()[0].endswith('fresh start, 6 steps.')
  assert max(_losses(first)) == 6
  second = _ok(results['resume_second'])
  assert 'resuming from' in second and 'at step 6 of 9' in second
  assert sorted(_losses(second)) == [7, 8, 9], second
  # Rerunning a finished command trains no further and keeps the step.
  assert not _losses(_ok(results['resume_third']))
  records = _metrics(out)
  assert {r['split'] for r in records} == {'eval', 'test'}
  test_line = [r for r in records if r['split'] == 'test'][0]
  assert test_line['step'] == 6 and test_line['unit'] == 'bits/dim'
  assert test_line['nelbo'] == pytest.approx(test_line['rate'] + test_line['distortion'])
  assert records[-1]['step'] == 9
  assert os.path.exists(os.path.join(out, 'config.gin'))
  with open(os.path.join(out, 'run.json')) as f:
    assert json.load(f)['data'] == {'num_examples': {'train': 256, 'eval': 48, 'test': 48}}


def test_progress_lines_show_eta_and_the_evaluation_unit(runs):
  stdout = _ok(runs[1]['resume_first'])
  progress = [line for line in stdout.splitlines() if line.startswith('step ')]
  assert len(progress) == 6
  for line in progress:
    assert re.match(r'step \d/6  elapsed \d+:\d\d  ETA (\d+:\d\d|\?)  [\d.]+ steps/s  '
                    r'-ELBO [\d.]+ bits/dim  rate [\d.]+  distortion [\d.]+  loss [\d.]+  '
                    r'lr \S+$', line), line
  assert re.search(r'ETA \d+:\d\d', progress[-1])
  # The first line, before any step, names the run.
  assert re.match(r'tiny_images / vae_conv: [\d,]+ parameters, 1 replica \(OneDevice\), '
                  r'run \S+; fresh start, 6 steps\.$', stdout.splitlines()[0])
  # Training terms average the steps since the previous line: -ELBO = D + R.
  for line in progress:
    nelbo, rate, distortion = (float(x) for x in re.findall(
        r'(?:-ELBO|rate|distortion) ([\d.]+)', line))
    assert nelbo == pytest.approx(rate + distortion, abs=2e-6)


def test_resumed_run_matches_uninterrupted_run(runs):
  """Optimizer state, step, data position and RNG all restored: identical metrics."""
  base, results = runs
  for row_id in ('whole', 'split_first', 'split_second'):
    _ok(results[row_id])
  a = [r for r in _metrics(f'{base}/whole') if r['split'] == 'test'][-1]
  b = [r for r in _metrics(f'{base}/split') if r['split'] == 'test'][-1]
  assert a['step'] == b['step'] == 8
  assert a['nelbo'] == pytest.approx(b['nelbo'], rel=1e-5)
  assert a['rate'] == pytest.approx(b['rate'], rel=1e-4)


def test_mirrored_two_cpu_replicas_matches_single_device(runs):
  _, results = runs
  single, mirrored = _ok(results['single_device']), _ok(results['mirrored'])
  assert '2 replicas (Mirrored)' in mirrored
  # Same examples and initial weights. The analytic rate is identical; the distortion
  # differs only by the Monte Carlo noise of z, which each replica draws for its half.
  rate_a, rate_b = _losses(single, 'rate'), _losses(mirrored, 'rate')
  assert rate_a[1] == pytest.approx(rate_b[1], rel=1e-5)
  a, b = _losses(single), _losses(mirrored)
  assert a[1] == pytest.approx(b[1], rel=1e-4)
  assert a[2] == pytest.approx(b[2], rel=1e-4)


def test_same_seed_gives_identical_metrics(runs):
  base, results = runs
  _ok(results['seed_a'])
  _ok(results['seed_b'])
  assert _metrics(f'{base}/seed_a') == _metrics(f'{base}/seed_b')


def test_text_problem_trains_and_reports_nats_per_token(runs):
  base, results = runs
  stdout = _ok(results['text'])
  assert ' nats/token ' in [line for line in stdout.splitlines()
                            if line.startswith('step ')][-1]
  test_line = [r for r in _metrics(f'{base}/text') if r['split'] == 'test'][0]
  assert test_line['unit'] == 'nats/token'
  assert test_line['num_examples'] == 48
