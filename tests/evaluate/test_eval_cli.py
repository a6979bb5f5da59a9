"""t2t-delta-eval end to end on a tiny trained run (VLAE with an IAF posterior)."""

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
  proc = cli('t2t_delta.evaluate.cli', [f'--output_dir={out}', '--splits=test',
                                        '--nll_samples=4', '--nll_chunk=2', '--tsne',
                                        '--max_examples=24'], check=0)
  assert 'NLL-IS' in proc.stdout and 'shape acc' in proc.stdout
  with open(os.path.join(out, 'metrics.jsonl')) as f:
    evaluated = [json.loads(line) for line in f][-1]
  assert evaluated['evaluator'] == 't2t-delta-eval'
  assert evaluated['num_examples'] == 24 and evaluated['step'] == 30
  assert evaluated['nll_is'] <= evaluated['nelbo_is'] + 1e-9
  for factor in ('colour', 'position', 'shape', 'size'):
    assert 0.0 <= evaluated[f'probe_{factor}_accuracy'] <= 1.0
    assert evaluated[f'probe_{factor}_majority'] > 0.0
  assert os.path.getsize(os.path.join(out, 'tsne_test.png')) > 1000


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
