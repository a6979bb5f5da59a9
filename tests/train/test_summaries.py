"""TensorBoard summaries written at evaluations, read back from the event files.

The README's main job (image_synthetic, delta_vae_image, gin/image_tiny.gin) and the
text configuration (text_synthetic, delta_vae_text, gin/text_tiny.gin), as trained by
the shared `tiny_run` fixture (20 steps, evaluations at steps 10 and 20), must leave
pictures (or texts) and the KL histogram in `summaries/eval`. Models without an
autoregressive decoder (vae_conv, vae_bow) and without latents (ar_image) are covered
by calling `summaries.write_eval` on untrained models.
"""

import os

import gin
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

import tiny_runs
from t2t_delta import registry
from t2t_delta.runtime import gin_config
from t2t_delta.train import summaries

EVAL_STEPS = [tiny_runs.EVAL_EVERY, tiny_runs.STEPS]


def _events(directory):
  """{tag: [(step, value)]} of every summary in the event files of `directory`."""
  acc = event_accumulator.EventAccumulator(directory, size_guidance={'tensors': 0})
  acc.Reload()
  return {tag: [(e.step, tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
          for tag in acc.Tags()['tensors']}


def _png(value):
  """An image summary's [width, height, png] tensor -> uint8 [H, W, C]."""
  width, height = int(value[0]), int(value[1])
  image = tf.io.decode_png(value[2]).numpy()
  assert image.shape[:2] == (height, width)
  return image


def test_main_job_writes_pictures_and_kl_histogram(tiny_run):
  out, trainer = tiny_run('image')
  events = _events(os.path.join(out, 'summaries', 'eval'))
  config = summaries.SummaryConfig()
  tile = 16 * 4 + 2     # 16x16 images upscaled x4, 2 px separators
  expected = {  # tag: (rows, columns) of the grid
      'samples/prior': (1, config.num_samples),
      'samples/aux_prior': (1, config.num_samples),
      'multi_decode': (config.num_multi_decode, config.decodes_per_latent),
      'reconstructions': (config.num_reconstructions, 2),
  }
  for tag, (rows, cols) in expected.items():
    assert [step for step, _ in events[tag]] == EVAL_STEPS, tag
    image = _png(events[tag][-1][1])
    assert image.shape == (rows * tile + 2, cols * tile + 2, 3), tag
  # Reconstructions: the left column holds the eval split's first images.
  inputs = trainer.problem.arrays('eval')['image'][:config.num_reconstructions]
  grid = _png(events['reconstructions'][0][1])
  first = grid[2:2 + 64:4, 2:2 + 64:4]
  np.testing.assert_array_equal(first, inputs[0])
  # Samples are real images, not a constant canvas.
  assert _png(events['samples/prior'][0][1]).std() > 1.0
  # KL per latent dimension: one value per dimension, summing to the eval rate.
  assert [step for step, _ in events['kl_per_dim']] == EVAL_STEPS
  histogram = events['kl_per_dim'][-1][1]
  counts = histogram[:, 2]
  assert counts.sum() == pytest.approx(trainer.model.latent_dim)
  # The test split gets the histogram but not a second set of pictures.
  test_events = _events(os.path.join(out, 'summaries', 'test'))
  assert 'kl_per_dim' in test_events and 'samples/prior' not in test_events


def test_kl_histogram_matches_the_evaluated_rate(tiny_run):
  _, trainer = tiny_run('image')
  record, kl_per_dim = trainer._evaluate('eval')  # pylint: disable=protected-access
  assert kl_per_dim.shape == (trainer.model.latent_dim,)
  units = np.prod(trainer.problem.image_shape) * np.log(2.0)
  assert kl_per_dim.sum() / units == pytest.approx(record['rate'], rel=1e-4)


def test_text_run_writes_text_summaries(tiny_run):
  out, trainer = tiny_run('text')
  events = _events(os.path.join(out, 'summaries', 'eval'))
  for tag in ('samples/prior', 'samples/aux_prior', 'reconstructions'):
    assert [step for step, _ in events[tag]] == EVAL_STEPS, tag
    text = events[tag][-1][1].item().decode('utf-8')
    lines = text.splitlines()
    assert lines and all(line.startswith('* ') for line in lines), text
  config = summaries.SummaryConfig()
  recon = events['reconstructions'][0][1].item().decode('utf-8').splitlines()
  assert len(recon) == config.num_reconstructions
  first_input = trainer.problem.ids_to_text(
      [int(i) for i in trainer.problem.arrays('eval')['targets'][0]])
  assert recon[0].startswith(f'* {first_input} → ')
  assert 'kl_per_dim' in events


def _untrained(problem_name, model_name, params=()):
  gin_config.parse_gin(gin_params=list(params))
  try:
    problem = registry.problem(problem_name)()
    return problem, registry.model(model_name)(problem)
  finally:
    gin.clear_config()


@pytest.mark.parametrize('problem_name,model_name,tags', [
    ('tiny_images', 'vae_conv', {'samples/prior', 'multi_decode', 'reconstructions',
                                 'kl_per_dim'}),
    ('tiny_text', 'vae_bow', {'samples/prior', 'reconstructions', 'kl_per_dim'}),
    ('tiny_images', 'ar_image', {'samples/prior'}),
])
def test_factorised_and_latent_free_models(tmp_path, problem_name, model_name, tags):
  params = ['ar_image.num_decoder_layers = 1', 'ar_image.decoder_hidden = 8',
            'ar_image.decoder_filter = 8', 'ar_image.num_components = 2']
  problem, model = _untrained(problem_name, model_name, params)
  kl = np.arange(4.0) if model.has_latents else None
  with tf.summary.create_file_writer(str(tmp_path)).as_default():
    summaries.write_eval(summaries.SummaryConfig(num_samples=3, num_reconstructions=2),
                         model, problem, 'eval', 7, kl, seed=0)
  events = _events(str(tmp_path))
  assert set(events) == tags
  assert all(step == 7 for values in events.values() for step, _ in values)


def test_disabled_and_every_steps():
  config = summaries.SummaryConfig(every_steps=100)
  assert config.pictures_due(200, final=False) and not config.pictures_due(150, False)
  assert config.pictures_due(150, final=True)
  off = summaries.SummaryConfig(enabled=False)
  assert not off.pictures_due(100, final=True)
  with pytest.raises(ValueError, match='summaries.num_samples=-1 is invalid'):
    summaries.SummaryConfig(num_samples=-1).validate()
  with pytest.raises(ValueError, match='summaries.temperature=inf is invalid'):
    summaries.SummaryConfig(temperature=float('inf')).validate()
