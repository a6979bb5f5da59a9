"""bfloat16 activations: the tiny configs train on CPU and track float32.

Each tiny configuration of `tiny_runs` (gin/image_tiny.gin on image_synthetic,
gin/text_tiny.gin on text_synthetic) is trained from the same seed with float32 and
with bfloat16 activations (`<model>.compute_dtype`); variables, optimizer state and the loss
stay float32. The whole-split negative ELBO at every evaluation must agree to within
a few percent (bfloat16 keeps 8 bits of mantissa, so per-activation relative error is
~0.4%), while training moves it by much more than that.
"""

import numpy as np
import pytest
import tensorflow as tf

import tiny_runs
from t2t_delta.models import delta_vae_image


@pytest.mark.parametrize('name', sorted(tiny_runs.CONFIGS))
def test_bfloat16_tracks_float32(name, tiny_run):
  curves = {}
  for dtype in ('float32', 'bfloat16'):
    output_dir, trainer = tiny_run(name, dtype)
    assert trainer.model.compute_dtype == tf.as_dtype(dtype)
    curves[dtype] = np.array([r['nelbo'] for r in tiny_runs.records(output_dir, 'eval')])
  f32, bf16 = curves['float32'], curves['bfloat16']
  assert len(f32) == len(bf16) == tiny_runs.STEPS // tiny_runs.EVAL_EVERY
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
