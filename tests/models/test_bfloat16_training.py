"""bfloat16 activations: the tiny configs train on CPU and track float32.

Each tiny configuration (gin/image_tiny.gin on image_synthetic, gin/text_tiny.gin on
text_synthetic) is trained twice from the same seed, once with float32 and once with
bfloat16 activations (`<model>.compute_dtype`); variables, optimizer state and the loss
stay float32. The whole-split negative ELBO at every evaluation must agree to within
a few percent (bfloat16 keeps 8 bits of mantissa, so per-activation relative error is
~0.4%), while training moves it by much more than that.
"""

import json
import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from t2t_delta import registry
from t2t_delta.models import delta_vae_image
from t2t_delta.train import config as config_lib
from t2t_delta.train import strategies
from t2t_delta.train import trainer as trainer_lib

STEPS = 20
CONFIGS = {   # problem, model, gin file, extra binding (a smaller eval split)
    'image': ('image_synthetic', 'delta_vae_image', 'gin/image_tiny.gin',
              'image_synthetic.num_eval = 128'),
    'text': ('text_synthetic', 'delta_vae_text', 'gin/text_tiny.gin',
             'text_synthetic.num_eval = 128'),
}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _train(output_dir, problem_name, model_name, gin_file, extra, dtype):
  config_lib.parse_gin(
      gin_files=[os.path.join(REPO, gin_file)],
      gin_params=[f'train.steps = {STEPS}', 'train.eval_every = 10',
                  'train.log_every = 0', "train.final_splits = ('eval',)",
                  'train.batch_size = 8', 'train.eval_batch_size = 128',
                  'linear_warmup_constant.warmup_steps = 5',
                  extra, f"{model_name}.compute_dtype = '{dtype}'"])
  try:
    problem = registry.problem(problem_name)()
    trainer = trainer_lib.Trainer(problem, registry.model(model_name), output_dir,
                                  strategies.make_strategy('cpu'), seed=1,
                                  config=trainer_lib.TrainConfig())
    trainer.train()
    assert trainer.model.compute_dtype == tf.as_dtype(dtype)
  finally:
    gin.clear_config()
  with open(os.path.join(output_dir, 'metrics.jsonl')) as f:
    return [json.loads(line)['nelbo'] for line in f]


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_bfloat16_tracks_float32(name, tmp_path):
  curves = {dtype: np.array(_train(str(tmp_path / dtype), *CONFIGS[name], dtype))
            for dtype in ('float32', 'bfloat16')}
  f32, bf16 = curves['float32'], curves['bfloat16']
  assert len(f32) == len(bf16) == STEPS // 10    # evals at 10 and the final one
  assert np.all(np.isfinite(bf16))
  gap = np.abs(bf16 - f32) / f32
  assert gap.max() < 0.02, (f32, bf16)
  # Training moves the loss by far more than the bfloat16 gap, in both precisions.
  for curve in (f32, bf16):
    assert curve[0] - curve[-1] > 5 * np.abs(bf16 - f32).max(), (f32, bf16)


class _Images:
  modality = 'image'
  image_shape = (6, 5, 3)
  registered_name = 'images'


def test_image_model_computes_in_bfloat16_and_matches_float32():
  """Same weights, both dtypes: terms agree to bfloat16 precision; gradients finite."""
  kwargs = dict(num_encoder_layers=2, num_decoder_layers=2, encoder_hidden=16,
                decoder_hidden=16, encoder_filter=16, decoder_filter=16, aux_hidden=8,
                num_components=3, latent_dim=2, dropout_rate=0.0, seed=4)
  f32 = delta_vae_image.DeltaVaeImage(_Images(), **kwargs)
  bf16 = delta_vae_image.DeltaVaeImage(_Images(), compute_dtype='bfloat16', **kwargs)
  images = tf.constant(np.random.default_rng(0).integers(0, 256, (4, 6, 5, 3)), tf.int32)
  features, seed = {'image': images}, tf.constant([2, 3])
  assert bf16.network_inputs(features).dtype == tf.bfloat16
  out32 = f32(features, training=True, seed=seed)
  with tf.GradientTape() as tape:
    out16 = bf16(features, training=True, seed=seed)
    loss = tf.reduce_sum(out16['distortion'] + out16['rate'])
  for key in ('distortion', 'rate'):
    assert out16[key].dtype == tf.float32
    np.testing.assert_allclose(out16[key], out32[key], rtol=0.02)
  grads = tape.gradient(loss, bf16.trainable_variables)
  assert all(np.all(np.isfinite(g.numpy())) for g in grads if g is not None)
  assert sum(g is not None for g in grads) > len(grads) // 2
