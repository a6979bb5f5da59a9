"""The gin files of gin/ablations/ parse with their base files and build their models."""

import glob
import os

import gin
import pytest

import t2t_delta
from t2t_delta import registry
from t2t_delta.runtime import gin_config
from t2t_delta.train import trainer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ABLATIONS = sorted(glob.glob(os.path.join(REPO, 'gin', 'ablations', '*.gin')))


def _base_and_model(path):
  name = os.path.basename(path)
  model = 'vlae_image' if 'vlae' in name else 'delta_vae_image'
  if name.startswith('cifar10_'):
    return ['gin/cifar10_ablation.gin'], model
  if name.startswith('vlae_'):
    return [], model
  return ['gin/image_tiny.gin'], model


def test_every_ablation_file_is_covered():
  assert len(ABLATIONS) >= 20
  names = {os.path.basename(p) for p in ABLATIONS}
  for required in ('vlae_tiny.gin', 'vlae_iaf_tiny.gin', 'cifar10_vlae.gin',
                   'cifar10_independent_delta.gin', 'sweep_tiny.gin'):
    assert required in names


@pytest.mark.parametrize('path', ABLATIONS, ids=os.path.basename)
def test_parses_and_selects_the_objective(path):
  t2t_delta.import_all()
  base, _ = _base_and_model(path)
  try:
    gin_config.parse_gin(base + [path])
    objective = trainer.TrainConfig().objective
    with open(path) as f:
      text = f.read()
    for name in ('beta_vae', 'free_bits', 'kl_annealing', 'target_rate'):
      if f'@{name}' in text:
        assert objective.__name__ == name
  finally:
    gin.clear_config()


@pytest.mark.parametrize('path', [p for p in ABLATIONS
                                  if not os.path.basename(p).startswith('cifar10_')],
                         ids=os.path.basename)
def test_tiny_files_build_their_model(path):
  base, model_name = _base_and_model(path)
  try:
    gin_config.parse_gin(base + [path])
    problem = registry.problem('image_synthetic')()
    model = registry.model(model_name)(problem)
    name = os.path.basename(path)
    if 'independent_delta' in name:
      assert model.posterior_type == 'independent_delta'
      assert model.committed_rate() == pytest.approx(20.0 * 0.6931471805599453)
    if 'iaf' in name:
      assert model.iaf is not None and model.flow_prior is not None
    if 'paper_conditioning' in name:
      assert not model.decoder.latent_in_blocks
      assert trainer.TrainConfig().steps == 500
  finally:
    gin.clear_config()


def test_image_tiny_ships_the_latent_levers():
  """The README's main job: z in every gated block, informative posterior start, and
  the band at 4 heights (5 bits of factors) instead of the problem's default 8."""
  try:
    gin_config.parse_gin(['gin/image_tiny.gin'])
    problem = registry.problem('image_synthetic')(num_train=8)
    assert problem.num_positions == 4
    assert problem.factor_entropy_bits() == pytest.approx(5.0)
    model = registry.model('delta_vae_image')(problem)
    assert model.decoder.latent_in_blocks
    # Informative start: posterior means differ between images by O(1) from step 0.
    images = problem.arrays('train')['image']
    loc = model.posterior_mean({'image': images}).numpy()
    assert loc.std(axis=0).mean() > 0.1
  finally:
    gin.clear_config()


DECODER_SETTINGS = ('num_decoder_layers', 'decoder_hidden', 'decoder_filter',
                    'num_decoder_attention', 'num_heads', 'num_components', 'dropout_rate')


def _bound_value(binding):
  value = gin.query_parameter(binding)
  return value.scoped_configurable_fn() if isinstance(
      value, gin.config.ConfigurableReference) else value


@pytest.mark.parametrize('files', [
    ['gin/image_tiny.gin'], ['gin/cifar10_best.gin'], ['gin/imagenet32_best.gin'],
    ['gin/cifar10_ablation.gin'],
    ['gin/cifar10_ablation.gin', 'gin/ablations/cifar10_table6_l6_a0_low_rate.gin'],
    ['gin/cifar10_ablation.gin', 'gin/ablations/cifar10_table6_large_low_rate.gin']])
def test_ar_image_baseline_has_the_delta_vae_decoder(files):
  """The latent-free baseline's decoder is the δ-VAE's, also where a file overrides it."""
  try:
    gin_config.parse_gin(files)
    for setting in DECODER_SETTINGS:
      assert (_bound_value(f'ar_image.{setting}')
              == _bound_value(f'delta_vae_image.{setting}')), setting
    if 'l6_a0' in files[-1]:
      assert _bound_value('ar_image.num_decoder_layers') == 6
      assert _bound_value('ar_image.num_decoder_attention') == 0
  finally:
    gin.clear_config()


TEXT_DECODER_SETTINGS = ('num_layers', 'hidden_size', 'filter_size', 'num_heads',
                         'dropout_rate', 'token_dropout')


@pytest.mark.parametrize('files', [['gin/text_tiny.gin'], ['gin/lm1b.gin']])
def test_ar_text_baseline_has_the_delta_vae_decoder(files):
  """The latent-free text baseline's Transformer is the δ-VAE's decoder."""
  try:
    gin_config.parse_gin(files)
    for setting in TEXT_DECODER_SETTINGS:
      assert (_bound_value(f'ar_text.{setting}')
              == _bound_value(f'delta_vae_text.{setting}')), setting
  finally:
    gin.clear_config()
