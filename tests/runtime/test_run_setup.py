"""A gin file can name the whole experiment; --problem and --model override it."""

import gin
import pytest

from t2t_delta.errors import UserError
from t2t_delta.runtime import run_setup

SMALL = ['tiny_images.num_train=8', 'tiny_images.num_test=4']


def _names(tmp_path, problem, model, gin_files, gin_params=()):
  try:
    setup = run_setup.RunSetup.for_training(problem, model, str(tmp_path / 'run'),
                                            gin_files=gin_files, gin_params=gin_params)
    return setup.problem_name, setup.model_name, gin.operative_config_str()
  finally:
    gin.clear_config()


def test_gin_file_names_the_problem_and_the_model(tmp_path):
  problem, model, _ = _names(tmp_path, None, None, ['gin/image_tiny.gin'])
  assert (problem, model) == ('image_synthetic', 'delta_vae_image')


def test_flags_override_the_gin_file_and_are_recorded_in_the_config(tmp_path):
  problem, model, config = _names(tmp_path, 'tiny_images', 'ar_image',
                                  ['gin/image_tiny.gin'], SMALL)
  assert (problem, model) == ('tiny_images', 'ar_image')
  assert "run.model = 'ar_image'" in config
  assert "run.problem = 'tiny_images'" in config


def test_bindings_name_the_experiment_without_a_gin_file(tmp_path):
  problem, model, _ = _names(tmp_path, None, None, [],
                             SMALL + ["run.problem = 'tiny_images'",
                                      "run.model = 'vae_conv'"])
  assert (problem, model) == ('tiny_images', 'vae_conv')


@pytest.mark.parametrize('problem,model,missing', [
    (None, None, ['--problem (or run.problem', '--model (or run.model']),
    ('tiny_images', None, ['--model (or run.model']),
    (None, 'vae_conv', ['--problem (or run.problem'])])
def test_an_unnamed_problem_or_model_is_a_user_error(tmp_path, problem, model, missing):
  with pytest.raises(UserError) as e:
    _names(tmp_path, problem, model, [], SMALL)
  message = str(e.value)
  for text in missing:
    assert text in message
  assert message.count('(or run.') == len(missing)


def test_an_unknown_name_lists_the_registered_ones(tmp_path):
  with pytest.raises(UserError, match='image_synthetic'):
    _names(tmp_path, 'no_such_problem', None, ['gin/image_tiny.gin'])
