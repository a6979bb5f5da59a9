"""Registered names and gin parameters of the problems."""

import gin

from t2t_delta.problems import image_synthetic
from t2t_delta.problems import text_synthetic


def test_gin_parameters_reach_constructors():
  gin.clear_config()
  try:
    gin.parse_config(['image_synthetic.image_size = 12', 'image_synthetic.num_train = 32',
                      'text_synthetic.max_length = 20'])
    assert image_synthetic.ImageSynthetic().image_shape == (12, 12, 3)
    assert image_synthetic.ImageSynthetic().num_examples('train') == 32
    assert text_synthetic.TextSynthetic().feature_spec()['targets'].shape == [20]
  finally:
    gin.clear_config()


def test_registered_names():
  import t2t_delta  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from t2t_delta import registry  # pylint: disable=g-import-not-at-top
  for name in ('image_synthetic', 'image_synthetic_grey', 'image_shapes',
               'image_shapes_lit', 'text_synthetic', 'image_files',
               'text_lines', 'image_cifar10', 'image_imagenet32', 'languagemodel_lm1b'):
    assert name in registry.list_problems()
    assert registry.problem(name).registered_name == name
