"""t2t-delta-report: families from configs, PNGs and Markdown from fake runs."""

import json
import os
import subprocess
import sys

import pytest

from t2t_delta.evaluate import report

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _fake_run(root, name, model, gin_lines, records):
  path = os.path.join(root, name)
  os.makedirs(path)
  with open(os.path.join(path, 'run.json'), 'w') as f:
    json.dump({'problem': 'image_synthetic', 'model': model, 'seed': 0}, f)
  with open(os.path.join(path, 'config.gin'), 'w') as f:
    f.write('# Parameters for train:\n' + '\n'.join(gin_lines) + '\n')
  with open(os.path.join(path, 'metrics.jsonl'), 'w') as f:
    for r in records:
      f.write(json.dumps(r) + '\n')
  return path


def _record(step, rate_bits, nelbo, split='test', **extra):
  r = {'step': step, 'split': split, 'unit': 'bits/dim', 'nelbo': nelbo,
       'rate': rate_bits / 768, 'distortion': nelbo - rate_bits / 768,
       'rate_bits_per_example': rate_bits,
       'distortion_bits_per_example': nelbo * 768 - rate_bits}
  r.update(extra)
  return r


@pytest.fixture
def two_runs(tmp_path):
  delta = _fake_run(
      str(tmp_path), 'delta', 'delta_vae_image',
      ['delta_vae_image.prior_type = \'ar1\'', 'delta_vae_image.alpha_hi = 0.95',
       'delta_vae_image.committed_rate_bits = 20.0'],
      [_record(100, 30.0, 5.0, split='eval'), _record(100, 31.0, 5.1),
       _record(200, 25.0, 4.5),
       _record(200, 25.5, 4.6, evaluator='t2t-delta-eval', nll_is=4.4,
               probe_shape_accuracy=0.8, probe_shape_majority=0.3)])
  beta = _fake_run(
      str(tmp_path), 'beta', 'delta_vae_image',
      ["delta_vae_image.prior_type = 'standard_normal'",
       'train.objective = @beta_vae', 'beta_vae.beta = 0.5'],
      [_record(200, 12.0, 4.8, nll_is=4.7, evaluator='t2t-delta-eval',
               probe_shape_accuracy=0.5, probe_shape_majority=0.3)])
  return delta, beta


def test_report_writes_pngs_and_markdown(two_runs, tmp_path):
  out = str(tmp_path / 'report')
  paths, table = report.write_report(list(two_runs), out)
  for key in ('rate_distortion', 'probe'):
    with open(paths[key], 'rb') as f:
      assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  with open(paths['markdown']) as f:
    assert f.read() == table
  lines = [l for l in table.splitlines() if l.startswith('| delta') or
           l.startswith('| beta')]
  assert len(lines) == 2
  delta_line = [l for l in lines if l.startswith('| delta')][0]
  # The t2t-delta-eval record of the latest step wins.
  assert 'δ-VAE (AR1)' in delta_line and '25.50' in delta_line and '4.4000' in delta_line
  assert '0.800' in delta_line
  assert 'β-VAE' in table and 'β=0.5' in table
  assert 'Majority-class baseline: shape 0.300' in table


def test_report_plots_and_tabulates_information(tmp_path):
  info = dict(evaluator='t2t-delta-eval', mi_bits=6.5, mi_max_bits=9.0,
              swap_gain_bits=5.25, contrastive_bits=4.75, contrastive_max_bits=6.0,
              active_units=12, latent_units=64, probe_colour_accuracy=0.9,
              probe_colour_accuracy_samples=0.8, probe_colour_accuracy_untrained=0.95,
              probe_colour_majority=0.17)
  run = _fake_run(str(tmp_path), 'informative', 'delta_vae_image',
                  ["delta_vae_image.prior_type = 'ar1'"],
                  [_record(300, 22.0, 5.0, **info)])
  paths, table = report.write_report([run], str(tmp_path / 'report'))
  with open(paths['information'], 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  row = [l for l in table.split('## Information')[1].splitlines()
         if l.startswith('| informative')][0]
  for text in ('6.50', '5.25', '4.75 (max 6.0)', '12/64', '0.900 / 0.800 / 0.950'):
    assert text in row, (text, row)


def _report_cli(args):
  # The report needs no TensorFlow: run it as a plain module.
  return subprocess.run([sys.executable, '-m', 't2t_delta.evaluate.report'] + args,
                        capture_output=True, text=True, timeout=300, cwd=REPO)


def test_report_cli(two_runs, tmp_path):
  out = str(tmp_path / 'cli_report')
  proc = _report_cli(list(two_runs) + [f'--out={out}'])
  assert proc.returncode == 0, proc.stderr
  assert '| run |' in proc.stdout
  assert sorted(os.listdir(out)) == ['information_vs_rate.png', 'probe_vs_rate.png',
                                     'rate_distortion.png', 'report.md']


def test_report_errors_are_one_line(tmp_path):
  with pytest.raises(ValueError, match='not a run directory'):
    report.write_report([str(tmp_path)], str(tmp_path / 'out'))
  with pytest.raises(ValueError, match='no run directories'):
    report.write_report([], str(tmp_path / 'out'))


@pytest.mark.parametrize('model,lines,family', [
    ('delta_vae_image', [], 'δ-VAE (AR1)'),
    ('delta_vae_text', ['delta_vae_text.alpha_hi = 0.4'], 'δ-VAE (AR1)'),
    ('delta_vae_image', ["delta_vae_image.prior_type = 'standard_normal'",
                         "delta_vae_image.posterior_type = 'independent_delta'",
                         'delta_vae_image.committed_rate_bits = 20.0'], 'independent δ'),
    ('delta_vae_image', ["delta_vae_image.prior_type = 'standard_normal'"],
     'VAE (N(0,1))'),
    ('delta_vae_image', ['train.objective = @free_bits', 'free_bits.lambda_nats = 2.0'],
     'free bits'),
    ('delta_vae_image', ['train.objective = @objectives.kl_annealing'], 'KL annealing'),
    ('delta_vae_image', ['train.objective = @target_rate'], 'target rate'),
    ('vlae_image', ['train.objective = @free_bits', "vlae_image.posterior = 'iaf'"],
     'VLAE'),
    ('ar_image', [], 'AR baseline'),
])
def test_families(model, lines, family):
  bindings = report.parse_gin_bindings('\n'.join(lines))
  assert report.classify(model, bindings)[0] == family
