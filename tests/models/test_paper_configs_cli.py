"""The paper's configurations build and take a training step through the trainer CLI."""

import json
import os

import numpy as np

import tfds_mock

TRAINER = 't2t_delta.train.cli'


def _cifar_examples(n, seed):
  rng = np.random.default_rng(seed)
  return [{'id': f'x{i}', 'image': rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
           'label': int(i % 10)} for i in range(n)]


def test_cifar10_ablation_config_takes_a_training_step(cli, tmp_path):
  data_dir = tfds_mock.write_prepared_tfds(
      'cifar10', tmp_path / 'data', {'train': _cifar_examples(8, 0),
                                      'test': _cifar_examples(4, 1)})
  out = tmp_path / 'run'
  proc = cli(TRAINER, ['--problem=image_cifar10', '--model=delta_vae_image',
                       '--gin_file=gin/cifar10_ablation.gin', f'--data_dir={data_dir}',
                       f'--output_dir={out}', '--schedule=train', '--train_steps=1',
                       '--gin_param=train.batch_size=1', '--gin_param=train.log_every=1'],
             check=0, timeout=1500)
  assert 'step 1/1' in proc.stdout
  assert os.path.exists(out / 'checkpoints' / 'checkpoint')
  config = (out / 'config.gin').read_text()
  assert 'DECODER_LAYERS = 8' in config
  assert 'delta_vae_image.num_decoder_layers = %DECODER_LAYERS' in config
  assert 'delta_vae_image.latent_dim = 32' in config
  with open(out / 'run.json') as f:
    assert json.load(f)['problem'] == 'image_cifar10'
