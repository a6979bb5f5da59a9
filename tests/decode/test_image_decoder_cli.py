"""The decoder binary's image modes end to end, on one tiny trained delta_vae_image run.

TensorFlow start-up dominates, so the module trains one run (one trainer process)
and starts two decoder processes: a text-only mode on an image run (one-line error,
exit status 2; it needs only run.json and runs while the trainer trains), and a
happy-path `--mode=sample` run with the default output file. Every mode is also run in this process through
`image_modes.run` on the restored run, which traces the cached sampler once for
all of them (same batch size and latent shape).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))

import conftest  # noqa: E402

TRAINER = 't2t_delta.train.cli'
DECODER = 't2t_delta.decode.cli'
SIZE = 8           # tiny_images: 8x8x3
BATCH = 8
TRAIN = ['--problem=tiny_images', '--model=delta_vae_image',
         '--gin_file=gin/image_tiny.gin', '--train_steps=2',
         '--gin_param=train.batch_size=8', '--gin_param=train.final_splits=()',
         '--gin_param=delta_vae_image.num_encoder_layers=1',
         '--gin_param=delta_vae_image.num_decoder_layers=2',
         '--gin_param=delta_vae_image.encoder_hidden=16',
         '--gin_param=delta_vae_image.decoder_hidden=16',
         '--gin_param=delta_vae_image.encoder_filter=32',
         '--gin_param=delta_vae_image.decoder_filter=32',
         '--gin_param=delta_vae_image.aux_hidden=16',
         '--gin_param=delta_vae_image.num_components=3']


def _start(module, args):
  code = ('import sys; from t2t_delta import quiet; quiet.import_tensorflow_quietly(); '
          'sys.path.insert(0, %r); import tiny_problems; '
          'import runpy; sys.argv = [%r] + sys.argv[1:]; '
          'runpy.run_module(%r, run_name="__main__")'
          % (os.path.join(REPO, 'tests'), module, module))
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  return subprocess.Popen([sys.executable, '-c', code] + list(args), cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
  """A trained run, and the two decoder processes' results."""
  out = str(tmp_path_factory.mktemp('image_run'))
  # A text mode on an image run fails on the flags alone, before anything is
  # loaded: it only needs run.json, so it runs while the trainer trains.
  stub = str(tmp_path_factory.mktemp('image_stub'))
  with open(os.path.join(stub, 'run.json'), 'w') as f:
    json.dump({'problem': 'tiny_images', 'model': 'delta_vae_image', 'seed': 0}, f)
  text_mode = _start(DECODER, [f'--output_dir={stub}', '--mode=complete'])
  conftest.run_cli(TRAINER, TRAIN + [f'--output_dir={out}'], check=0)
  sample = _start(DECODER, [f'--output_dir={out}', '--mode=sample', '--num_samples=5',
                            '--batch_size=4', '--seed=3'])
  results = {}
  for name, proc in (('sample', sample), ('complete', text_mode)):
    stdout, stderr = proc.communicate(timeout=600)
    results[name] = (proc.returncode, stdout, stderr)
  return out, results


@pytest.fixture(scope='module')
def loaded(run_dir):
  from t2t_delta.runtime import run_setup
  setup, model, _ = run_setup.load_run(run_dir[0])
  return setup.problem, model


def _options(mode, **kwargs):
  options = dict(mode=mode, prior='model', num_samples=4, num_steps=3, dim=0,
                 from_file=None, to_file=None, temperature=1.0, max_length=None,
                 occlude=None, split='test', batch_size=BATCH, seed=0)
  options.update(kwargs)
  return options


def _run(loaded, tmp_path, mode, **kwargs):
  from t2t_delta.decode import image_modes
  problem, model = loaded
  path = str(tmp_path / f'{mode}.png')
  png, npz = image_modes.run(_options(mode, to_file=path, **kwargs), problem, model)
  assert png == path and os.path.exists(npz)
  picture = np.asarray(Image.open(png))
  with np.load(npz) as data:
    arrays = {k: data[k] for k in data.files}
  assert arrays['images'].dtype == np.uint8
  return picture, arrays


def _grid_size(rows, cols, upscale=4, separator=2):
  tile = SIZE * upscale
  return (rows * tile + (rows + 1) * separator, cols * tile + (cols + 1) * separator)


def _mean_distance(a, b):
  return float(np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32))))


def test_cli_sample_writes_default_png_and_npz(run_dir):
  out, results = run_dir
  code, stdout, stderr = results['sample']
  assert code == 0, stderr[-3000:]
  png = os.path.join(out, 'sample.png')
  assert 'sample.png' in stdout
  picture = np.asarray(Image.open(png))
  assert picture.shape == _grid_size(2, 3) + (3,)         # 5 samples in a 2x3 grid
  with np.load(os.path.join(out, 'sample.npz')) as data:
    assert data['images'].shape == (5, SIZE, SIZE, 3)
    assert data['z'].shape == (5, SIZE, 4)
    assert data['images'].std() > 0


def test_cli_text_mode_on_image_run_is_one_line_error(run_dir):
  code, _, stderr = run_dir[1]['complete']
  assert code == 2, stderr[-3000:]
  lines = [l for l in stderr.strip().splitlines() if l.startswith('error:')]
  assert len(lines) == 1
  for mode in ('sample', 'multi_decode', 'daydream', 'reconstruct', 'interpolate'):
    assert mode in lines[0]
  assert 'Traceback' not in stderr


def test_sample_with_aux_prior(loaded, tmp_path):
  picture, arrays = _run(loaded, tmp_path, 'sample', prior='aux', num_samples=4,
                         temperature=0.8)
  assert picture.shape == _grid_size(2, 2) + (3,)
  assert arrays['images'].shape == (4, SIZE, SIZE, 3)
  assert len({a.tobytes() for a in arrays['images']}) == 4


def test_multi_decode_rows_share_a_latent(loaded, tmp_path):
  from t2t_delta.decode import image_modes
  picture, arrays = _run(loaded, tmp_path, 'multi_decode', num_samples=3)
  per_z = image_modes.DECODES_PER_LATENT
  images = arrays['images']
  assert images.shape == (3, per_z, SIZE, SIZE, 3)
  assert arrays['z'].shape == (3, SIZE, 4)
  assert picture.shape == _grid_size(3, per_z) + (3,)
  # Decodes of one z differ (the decoder samples details) ...
  assert len({a.tobytes() for a in images.reshape((-1,) + images.shape[2:])}) == 3 * per_z
  # ... but are closer to each other than to the decodes of other latents.
  within, across = [], []
  for r in range(3):
    for s in range(3):
      for a in range(per_z):
        for b in range(per_z):
          if (r, a) < (s, b):
            (within if r == s else across).append(
                _mean_distance(images[r, a], images[s, b]))
  assert np.mean(within) < np.mean(across), (np.mean(within), np.mean(across))


def test_daydream_chains(loaded, tmp_path):
  picture, arrays = _run(loaded, tmp_path, 'daydream', num_samples=2, num_steps=3)
  images = arrays['images']
  assert images.shape == (2, 4, SIZE, SIZE, 3)
  assert arrays['z'].shape == (2, 3, SIZE, 4)
  assert picture.shape == _grid_size(2, 4) + (3,)
  problem, _ = loaded
  np.testing.assert_array_equal(images[:, 0], problem.arrays('test')['image'][:2])
  assert not np.array_equal(images[:, 1], images[:, 2])


@pytest.mark.parametrize('occlude', [None, 'bottom_half'])
def test_reconstruct(loaded, tmp_path, occlude):
  from t2t_delta.decode import image_modes
  picture, arrays = _run(loaded, tmp_path, 'reconstruct', num_samples=2,
                         occlude=occlude)
  n = image_modes.NUM_INPUTS
  # Row: input, [occluded input,] two reconstructions.
  assert arrays['images'].shape == (n, 3 + (occlude is not None), SIZE, SIZE, 3)
  assert arrays['reconstructions'].shape == (n, 2, SIZE, SIZE, 3)
  assert picture.shape == _grid_size(n, arrays['images'].shape[1]) + (3,)
  problem, _ = loaded
  inputs = problem.arrays('test')['image'][:n]
  np.testing.assert_array_equal(arrays['inputs'], inputs)
  recon = arrays['reconstructions']
  # Reconstructions of different inputs differ, and so do two posterior samples.
  assert not np.array_equal(recon[0, 0], recon[1, 0])
  assert not np.array_equal(recon[0, 0], recon[0, 1])
  if occlude:
    occluded = arrays['occluded']
    assert (occluded[:, SIZE // 2:] == image_modes.OCCLUSION_VALUE).all()
    np.testing.assert_array_equal(occluded[:, :SIZE // 2], inputs[:, :SIZE // 2])
    np.testing.assert_array_equal(arrays['images'][:, 1], occluded)


def test_interpolate(loaded, tmp_path):
  picture, arrays = _run(loaded, tmp_path, 'interpolate', num_samples=2, num_steps=4)
  images = arrays['images']
  assert images.shape == (2, 6, SIZE, SIZE, 3)
  assert picture.shape == _grid_size(2, 6) + (3,)
  z = arrays['z']
  assert z.shape == (2, 4, SIZE, 4)
  np.testing.assert_allclose(z[:, 1] - z[:, 0], z[:, 3] - z[:, 2], atol=1e-5)
  problem, _ = loaded
  test = problem.arrays('test')['image']
  np.testing.assert_array_equal(images[:, 0], test[[0, 2]])
  np.testing.assert_array_equal(images[:, -1], test[[1, 3]])


def test_option_errors(loaded):
  from t2t_delta.decode import image_modes
  from t2t_delta.errors import UserError
  from t2t_delta.models import ar_image
  problem, model = loaded
  for options, message in (
      (_options('complete'), 'image runs support'),
      (_options('sample', occlude='bottom_half'), 'reconstruct only'),
      (_options('reconstruct', occlude='left_half'), 'bottom_half'),
      (_options('sample', to_file='out.txt'), '.png'),
      (_options('sample', split='validation'), 'valid splits'),
      (_options('sample', from_file='x.txt'), 'text modes'),
  ):
    with pytest.raises(UserError, match=message):
      image_modes.check_options(options, None, None)
  baseline = ar_image.ArImage(problem, num_decoder_layers=1, decoder_hidden=8,
                              decoder_filter=8, num_decoder_attention=0,
                              num_components=2)
  with pytest.raises(UserError, match='needs a latent-variable model'):
    image_modes.check_options(_options('reconstruct'), problem, baseline)
  image_modes.check_options(_options('sample'), problem, baseline)
  grid, arrays = image_modes.sample_images(_options('sample', num_samples=3), problem,
                                           baseline)
  assert grid.shape == (2, 2, SIZE, SIZE, 3)
  assert arrays['images'].shape == (3, SIZE, SIZE, 3) and 'z' not in arrays
  image_modes.check_options(_options('interpolate'), problem, model)
