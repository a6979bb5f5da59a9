"""t2t-delta-eval end to end on a tiny trained run (VLAE with an IAF posterior)."""

import hashlib
import json
import os
import re

import numpy as np
import pytest

from t2t_delta.errors import UserError
from t2t_delta.evaluate import evaluator

TRAINER = 't2t_delta.train.cli'


def test_vlae_with_iaf_trains_end_to_end_and_evaluates(cli, tmp_path):
  """VLAE (AF prior, IAF posterior; gin/ablations/vlae_iaf_tiny.gin as shipped) on the
  embedded image_synthetic problem through the trainer CLI, then t2t-delta-eval."""
  out = str(tmp_path / 'run')
  proc = cli(TRAINER, ['--problem=image_synthetic', '--model=vlae_image',
                       '--gin_file=gin/ablations/vlae_iaf_tiny.gin', f'--output_dir={out}',
                       '--train_steps=30', '--eval_every=0',
                       '--gin_param=train.batch_size=8', '--gin_param=train.log_every=1',
                       "--gin_param=train.final_splits=('test',)",
                       '--gin_param=summaries.enabled=False'], check=0)
  losses = [float(x) for x in re.findall(r'step \d+/30 .*? loss ([\d.]+)', proc.stdout)]
  assert len(losses) == 30, proc.stdout[-2000:]
  # It learns: the last five steps' mean loss is below the first five's (by 3% in
  # 30 steps with seed 0; single-step losses vary by about 1%).
  assert np.mean(losses[-5:]) < 0.985 * np.mean(losses[:5]), losses
  with open(os.path.join(out, 'metrics.jsonl')) as f:
    records = [json.loads(line) for line in f]
  assert [r['split'] for r in records] == ['test']
  for key in ('nelbo', 'rate', 'distortion'):
    assert np.isfinite(records[0][key])
  # A trainer's checkpoint being written right now: evaluation must not touch it.
  in_flight = os.path.join(out, 'checkpoints', 'ckpt-31_temp', 'part-00000')
  os.makedirs(os.path.dirname(in_flight))
  with open(in_flight, 'w') as f:
    f.write('partial')
  before = _snapshot(out)
  with open(os.path.join(out, 'metrics.jsonl'), 'rb') as f:
    records_before = f.read()
  pictures = tmp_path / 'pictures'
  pictures.mkdir()
  proc = cli('t2t_delta.evaluate.cli', [f'--output_dir={out}', '--splits=test',
                                        '--nll_samples=4', '--nll_chunk=2', '--tsne',
                                        f'--tsne_dir={pictures}', '--max_examples=24',
                                        '--info_negatives=7', '--probe_examples=64'],
             check=0)
  assert 'NLL-IS' in proc.stdout and 'position acc' in proc.stdout
  assert 'swap gain' in proc.stdout and 'probe colour: means' in proc.stdout
  after = _snapshot(out)
  # Nothing in the run directory changed except the records appended to metrics.jsonl.
  assert set(after) == set(before)
  changed = [name for name in before if before[name] != after[name]]
  assert changed == ['metrics.jsonl']
  with open(os.path.join(out, 'metrics.jsonl'), 'rb') as f:
    assert f.read().startswith(records_before)
  with open(os.path.join(out, 'metrics.jsonl')) as f:
    evaluated = [json.loads(line) for line in f][-1]
  assert evaluated['evaluator'] == 't2t-delta-eval'
  assert evaluated['num_examples'] == 24 and evaluated['step'] == 30
  assert evaluated['nll_is'] <= evaluated['nelbo_is'] + 1e-9
  for factor in ('colour', 'position'):
    assert 0.0 <= evaluated[f'probe_{factor}_accuracy'] <= 1.0
    assert evaluated[f'probe_{factor}_majority'] > 0.0
  assert os.path.getsize(pictures / 'tsne_test.png') > 1000
  # The information diagnostics (IAF posterior: the aggregate posterior is evaluated by
  # encoding the batches again) and the probes' baselines are recorded.
  assert evaluated['mi_examples'] == 24 and evaluated['contrastive_negatives'] == 7
  assert evaluated['mi_bits'] <= evaluated['mi_max_bits'] + 1e-9
  assert evaluated['contrastive_bits'] <= evaluated['contrastive_max_bits'] + 1e-9
  assert evaluated['latent_units'] == 16 and 0 <= evaluated['active_units'] <= 16
  for factor in ('colour', 'position'):
    for suffix in ('_samples', '_untrained', '_untrained_samples'):
      assert 0.0 <= evaluated[f'probe_{factor}_accuracy{suffix}'] <= 1.0


def _snapshot(directory):
  """{relative path: sha256} of every file under `directory`."""
  out = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      with open(path, 'rb') as f:
        out[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
  return out


def test_evaluator_refuses_a_directory_that_is_not_a_run(tmp_path):
  with pytest.raises(UserError, match='not a t2t_delta run directory'):
    evaluator.Evaluator(str(tmp_path))


def test_format_table():
  records = [{'split': 'test', 'step': 5, 'unit': 'bits/dim', 'nelbo': 5.0, 'rate': 0.1,
              'distortion': 4.9, 'nll_is': 4.95, 'rate_bits_per_example': 10.0,
              'probe_shape_accuracy': 0.75, 'probe_shape_majority': 0.25}]
  table = evaluator.format_table(records)
  assert 'NLL-IS (bits/dim)' in table and '4.9500' in table and '0.750' in table
  assert 'majority baseline: shape 0.250' in table
