"""User-data problems train end to end through the trainer CLI on files written here
(the three command lines run in one helper process: tests/in_process.py)."""

import json
import os

import numpy as np
from PIL import Image

import in_process

TRAINER = 't2t_delta.train.cli'
FAST = ['--train_steps=2', '--gin_param=train.batch_size=4', '--gin_param=train.log_every=1']


def _test_record(output_dir):
  with open(os.path.join(output_dir, 'metrics.jsonl')) as f:
    records = [json.loads(line) for line in f]
  return [r for r in records if r['split'] == 'test'][-1]


def test_image_files_npz_and_png_folders_and_text_lines_train(tmp_path):
  rng = np.random.default_rng(0)
  npz_dir = tmp_path / 'npz'
  npz_dir.mkdir()
  for split, n in (('train', 12), ('test', 5)):
    np.savez(npz_dir / f'{split}.npz',
             image=rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8),
             label=np.arange(n) % 2)
  png_dir = tmp_path / 'png'
  for split, n in (('train', 8), ('test', 4)):
    for cls in ('cats', 'dogs'):
      os.makedirs(png_dir / split / cls)
      for i in range(n // 2):
        pixels = rng.integers(0, 256, (8, 8), dtype=np.uint8)
        Image.fromarray(pixels, mode='L').save(png_dir / split / cls / f'{i}.png')
  text_dir = tmp_path / 'text'
  text_dir.mkdir()
  words = 'the cat sat on a mat while dogs ran in the park near trees'.split()
  for split, n in (('train', 120), ('test', 20)):
    lines = [' '.join(rng.choice(words, rng.integers(3, 9))) for _ in range(n)]
    (text_dir / f'{split}.txt').write_text('\n'.join(lines) + '\n')

  runs = {
      'npz': ['--problem=image_files', f'--data_dir={npz_dir}', '--model=vae_conv'],
      'png': ['--problem=image_files', f'--data_dir={png_dir}', '--model=vae_conv'],
      'text': ['--problem=text_lines', f'--data_dir={text_dir}', '--model=vae_bow',
               '--gin_param=text_lines.vocab_size=40',
               '--gin_param=text_lines.max_length=12'],
  }
  rows = [{'id': name, 'args': args + [f'--output_dir={tmp_path}/run_{name}'] + FAST}
          for name, args in runs.items()]
  results = in_process.run(TRAINER, rows, str(tmp_path))
  for name in runs:
    assert results[name]['status'] == 0, results[name]['stderr'][-3000:]
    record = _test_record(str(tmp_path / f'run_{name}'))
    assert record['step'] == 2
    assert np.isfinite(record['nelbo'])
    assert record['num_examples'] == {'npz': 5, 'png': 4, 'text': 20}[name]
    assert record['unit'] == ('nats/token' if name == 'text' else 'bits/dim')
  assert any(f.endswith('.model') for f in os.listdir(text_dir))
