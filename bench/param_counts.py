"""Parameter counts of the paper's table-4 image models at 32x32x3.

    python -m bench.param_counts [--gin_dir=gin]

Builds `delta_vae_image` (and the `ar_image` decoder baseline) from each gin file and
prints the number of trainable parameters of the encoder, decoder and auxiliary
prior, and the committed rate the configured alphas imply.
"""

import argparse
import math
import os
import sys

import gin

from t2t_delta import registry
from t2t_delta.models import ar_image  # noqa: F401  (registers ar_image)
from t2t_delta.models import base
from t2t_delta.models import delta_vae_image  # noqa: F401  (registers it)
from t2t_delta.problems import base as problems_base

CONFIGS = (('cifar10_ablation', 'cifar10_ablation.gin'),
           ('cifar10_best', 'cifar10_best.gin'),
           ('imagenet32_best', 'imagenet32_best.gin'))
IMAGE_SHAPE = (32, 32, 3)


class _Shape32(problems_base.ImageProblem):
  """A data-less 32x32x3 problem: only the shape is needed to build a model."""

  registered_name = 'shape_32x32x3'

  @property
  def image_shape(self):
    return IMAGE_SHAPE


def _build(gin_path, model_name):
  registry.list_models()          # every model is registered before gin parses
  gin.clear_config()
  # Trainer bindings (train.*) may be present and are not needed here.
  gin.parse_config_file(gin_path, skip_unknown=True)
  try:
    gin.query_parameter(f'{model_name}.num_decoder_layers')
  except ValueError as e:
    gin.clear_config()
    raise ValueError(f'{gin_path} does not configure {model_name}.') from e
  try:
    return registry.model(model_name)(_Shape32())
  finally:
    gin.clear_config()


def count(gin_path):
  """Dict of parameter counts (and the committed rate) for one gin file."""
  model = _build(gin_path, 'delta_vae_image')
  result = {
      'encoder': base.count_parameters(model.encoder),
      'decoder': base.count_parameters(model.decoder),
      'aux_prior': base.count_parameters(model.aux_prior),
      'total': base.count_parameters(model),
      'committed_rate_bits': model.committed_rate() / math.log(2.),
  }
  del model
  result['ar_image'] = base.count_parameters(_build(gin_path, 'ar_image'))
  return result


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  default_dir = os.path.join(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))), 'gin')
  parser.add_argument('--gin_dir', default=default_dir)
  args = parser.parse_args(argv)
  header = (f'{"config":18s} {"encoder":>12s} {"decoder":>12s} {"aux prior":>11s} '
            f'{"total":>12s} {"ar_image":>12s} {"δ bits/img":>10s}')
  print(f'delta_vae_image parameter counts at {"x".join(map(str, IMAGE_SHAPE))}')
  print(header)
  for name, filename in CONFIGS:
    c = count(os.path.join(args.gin_dir, filename))
    print(f'{name:18s} {c["encoder"]:12,d} {c["decoder"]:12,d} {c["aux_prior"]:11,d} '
          f'{c["total"]:12,d} {c["ar_image"]:12,d} {c["committed_rate_bits"]:10.1f}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
