"""The tuned layers compute the same training step as their plain forms.

The reference forms below are the straightforward implementations these layers had
before they were tuned for speed:

* attention masks applied with a select on the logits broadcast to [B, h, Tq, Tk],
  and rows without visible keys zeroed on the weights;
* biases added with a broadcasting `+`;
* the decoder's tied output projection as a `tensordot` with the embedding table;
* the auxiliary LSTM prior as a `tf.scan` of its cell, differentiated by TensorFlow;
* strided slices for the pixel shifts and for reading the mixture parameters.

(The fused Adam update is checked against the element-wise one in
tests/train/test_optimizer.py.)

Each model test computes the loss and the gradient of every variable of one training
step (training mode, dropout on, padded text) with the library's layers and again with
the reference forms patched in, and requires them to agree to float32 rounding.
"""

import numpy as np
import tensorflow as tf

from t2t_delta.distributions import aux_prior
from t2t_delta.distributions import dmol
from t2t_delta.layers import attention
from t2t_delta.layers import core
from t2t_delta.layers import pixel
from t2t_delta.layers import transformer
from t2t_delta.models import delta_vae_image
from t2t_delta.models import delta_vae_text
from t2t_delta.problems import base as problems_base


# ---- reference forms ------------------------------------------------------------------
def reference_attend(self, x, k, v, mask=None, training=False, seed=None):
  q = self._split_heads(self.query(x), self.key_head_dim)
  q *= tf.cast(self.key_head_dim ** -0.5, q.dtype)
  logits = tf.cast(tf.einsum('bhqd,bhkd->bhqk', q, k), tf.float32)
  if mask is not None:
    mask = tf.broadcast_to(mask, tf.shape(logits))
    logits = tf.where(mask, logits, -1e9)
  weights = tf.nn.softmax(logits, axis=-1)
  if mask is not None:
    weights *= tf.cast(tf.reduce_any(mask, axis=-1, keepdims=True), weights.dtype)
  weights = core.dropout(weights, self.dropout_rate, seed, training)
  out = tf.einsum('bhqk,bhkd->bhqd', tf.cast(weights, v.dtype), v)
  b, tq = tf.shape(out)[0], tf.shape(out)[2]
  out = tf.reshape(tf.transpose(out, [0, 2, 1, 3]),
                   [b, tq, self.num_heads * self.value_head_dim])
  return self.output(out)


def reference_add_bias(x, bias):
  return x + tf.cast(bias, x.dtype)


def reference_output_logits(self, h):
  table = tf.cast(self.input_layer.embedding.table, h.dtype)
  return (tf.tensordot(h, table, [[h.shape.rank - 1], [1]])
          + tf.cast(self.output_bias, h.dtype))


def reference_conditionals(self, z):
  z = tf.cast(z, tf.float32)
  batch_size = tf.shape(z)[0]
  start = tf.broadcast_to(self.start, [batch_size, 1, self.num_dims])
  inputs = tf.concat([start, z[:, :-1]], axis=1)
  projected = tf.einsum('bnd,dk->nbk', inputs, self.input_kernel) + self.bias
  hiddens, _ = tf.scan(lambda state, x: self._cell(x, state), projected,
                       initializer=self._zero_state(batch_size))
  return self._gaussian(tf.transpose(hiddens, [1, 0, 2]))


def reference_down_shift(x):
  return tf.pad(x[:, :-1], [[0, 0], [1, 0], [0, 0], [0, 0]])


def reference_right_shift(x):
  return tf.pad(x[:, :, :-1], [[0, 0], [0, 0], [1, 0], [0, 0]])


def reference_split_network_output(output, num_channels, num_components):
  output = tf.cast(output, tf.float32)
  k = num_components
  per_channel = (dmol.dmol_num_params(num_channels, k) // k - 1) // num_channels
  blocks = tf.reshape(output[..., k:], tf.concat(
      [tf.shape(output)[:-1], [num_channels, per_channel * k]], 0))
  coeffs = blocks[..., 2 * k:3 * k] if num_channels == 3 else None
  return output[..., :k], blocks[..., :k], blocks[..., k:2 * k], coeffs


def reference_channel_means(locs, coeffs, x_scaled):
  if coeffs is None:
    return locs
  x = x_scaled[..., tf.newaxis]
  shift_g = coeffs[..., 0, :] * x[..., 0, :]
  shift_b = coeffs[..., 1, :] * x[..., 0, :] + coeffs[..., 2, :] * x[..., 1, :]
  return locs + tf.stack([tf.zeros_like(shift_g), shift_g, shift_b], axis=-2)


def _use_references(monkeypatch):
  monkeypatch.setattr(attention.MultiHeadAttention, 'attend', reference_attend)
  monkeypatch.setattr(core, 'add_bias', reference_add_bias)
  monkeypatch.setattr(transformer.TransformerDecoder, 'output_logits',
                      reference_output_logits)
  monkeypatch.setattr(aux_prior.LSTMPrior, 'conditionals', reference_conditionals)
  monkeypatch.setattr(pixel, 'down_shift', reference_down_shift)
  monkeypatch.setattr(pixel, 'right_shift', reference_right_shift)
  monkeypatch.setattr(dmol, 'split_network_output', reference_split_network_output)
  monkeypatch.setattr(dmol, '_channel_means', reference_channel_means)


# ---- one training step ----------------------------------------------------------------
def _loss_and_grads(model, features):
  with tf.GradientTape() as tape:
    out = model(features, training=True, seed=tf.constant([5, 9]))
    per_example = out['distortion'] + out['rate'] + out['aux_loss']
    loss = tf.reduce_mean(per_example)
  grads = tape.gradient(loss, model.trainable_variables)
  return loss.numpy(), [tf.convert_to_tensor(g).numpy() for g in grads]


def _perturb(model, seed):
  """Non-trivial weights everywhere (gate and posterior heads start small)."""
  rng = np.random.default_rng(seed)
  for v in model.trainable_variables:
    v.assign(v + 0.2 * rng.standard_normal(v.shape).astype(np.float32))
  return model


def _check_same_step(model, features, monkeypatch):
  loss, grads = _loss_and_grads(model, features)
  with monkeypatch.context() as patch:
    _use_references(patch)
    ref_loss, ref_grads = _loss_and_grads(model, features)
  np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
  assert len(grads) == len(ref_grads)
  for v, g, r in zip(model.trainable_variables, grads, ref_grads):
    scale = np.abs(r).max()
    np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5 * scale + 1e-12,
                               err_msg=v.name)
  assert sum(np.abs(g).sum() > 0 for g in grads) > 0.9 * len(grads)


class _Text(problems_base.TextProblem):
  max_length = 12
  vocab_size = 37


class _Images(problems_base.ImageProblem):
  image_shape = (6, 5, 3)


def test_text_step_matches_reference(monkeypatch):
  model = _perturb(delta_vae_text.DeltaVaeText(
      _Text(), num_layers=2, hidden_size=16, filter_size=32, num_heads=2,
      dropout_rate=0.2, aux_hidden=8), seed=1)
  rng = np.random.default_rng(2)
  lengths = np.array([12, 7, 3, 9])
  targets = rng.integers(2, 37, (4, 12)).astype(np.int32)
  mask = (np.arange(12)[None] < lengths[:, None]).astype(np.float32)
  targets = np.where(mask > 0, targets, 0)
  targets[np.arange(4), lengths - 1] = 1
  _check_same_step(model, {'targets': tf.constant(targets), 'mask': tf.constant(mask)},
                   monkeypatch)


def test_image_step_matches_reference(monkeypatch):
  model = _perturb(delta_vae_image.DeltaVaeImage(
      _Images(), num_encoder_layers=2, num_decoder_layers=2, encoder_hidden=8,
      decoder_hidden=8, encoder_filter=16, decoder_filter=16, aux_hidden=8,
      num_encoder_attention=1, num_decoder_attention=2, num_heads=2, num_components=3,
      dropout_rate=0.2, latent_dim=3), seed=3)
  images = np.random.default_rng(4).integers(0, 256, (3, 6, 5, 3)).astype(np.uint8)
  _check_same_step(model, {'image': tf.constant(images)}, monkeypatch)
