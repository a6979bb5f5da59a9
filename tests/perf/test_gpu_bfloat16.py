"""On a GPU: 'auto' picks bfloat16 where the GPU computes it natively, and one
XLA-compiled bfloat16 training step runs there and tracks float32.

Skipped unless TensorFlow sees a GPU (install with `pip install -e ".[gpu]"`).
"""

import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from t2t_delta import registry
from t2t_delta.layers import precision
from t2t_delta.models import base
from t2t_delta.runtime import gin_config
from t2t_delta.train import inputs
from t2t_delta.train import strategies
from t2t_delta.train import trainer as trainer_lib

pytestmark = pytest.mark.skipif(not tf.config.list_physical_devices('GPU'),
                                reason='needs a GPU')

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = {'image': ('image_synthetic', 'delta_vae_image', 'gin/image_tiny.gin'),
           'text': ('text_synthetic', 'delta_vae_text', 'gin/text_tiny.gin')}


def _native_bfloat16():
  return min(precision.gpu_compute_capabilities()) >= precision.MIN_BFLOAT16_CAPABILITY


def test_auto_compute_dtype_on_the_gpu():
  strategy = strategies.make_strategy('auto')
  expected = tf.bfloat16 if _native_bfloat16() else tf.float32
  assert precision.auto_compute_dtype(strategy) == expected
  with strategy.scope():
    assert base.resolve_compute_dtype('auto') == expected


def _first_step(name, dtype, output_dir):
  """(loss, gradient norm) of one XLA-compiled step of the tiny config on the GPU."""
  problem_name, model_name, gin_file = CONFIGS[name]
  gin_config.parse_gin([os.path.join(REPO, gin_file)],
                       ['train.batch_size = 16', 'train.jit_compile = True',
                        f"{model_name}.compute_dtype = '{dtype}'"])
  try:
    strategy = strategies.make_strategy('auto')
    trainer = trainer_lib.Trainer(registry.problem(problem_name)(),
                                  registry.model(model_name), output_dir, strategy,
                                  seed=3, config=trainer_lib.TrainConfig())
  finally:
    gin.clear_config()
  assert trainer.model.compute_dtype == tf.as_dtype(dtype)
  assert 'GPU' in strategy.extended.worker_devices[0]
  loop = trainer._build_train_loop()  # pylint: disable=protected-access
  dataset = strategy.distribute_datasets_from_function(
      lambda ctx: inputs.train_dataset(trainer.problem, 16, trainer.seed, 0, ctx))
  before = [v.numpy() for v in trainer.model.trainable_variables]
  sums, flags = loop(iter(dataset), tf.constant(1))
  assert max(float(v) for v in flags.values()) == 0.0, flags
  moved = sum(float(np.sum(np.abs(v.numpy() - b)))
              for v, b in zip(trainer.model.trainable_variables, before))
  return float(sums['loss']), moved


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_compiled_bfloat16_step_on_gpu_tracks_float32(name, tmp_path):
  if not _native_bfloat16():
    pytest.skip('the GPU has no native bfloat16 (compute capability < 8.0)')
  loss32, moved32 = _first_step(name, 'float32', str(tmp_path / 'f32'))
  loss16, moved16 = _first_step(name, 'bfloat16', str(tmp_path / 'bf16'))
  assert np.isfinite(loss16) and moved16 > 0.0
  assert abs(loss16 - loss32) / abs(loss32) < 0.02, (loss32, loss16)
  assert 0.5 < moved16 / moved32 < 2.0, (moved32, moved16)
