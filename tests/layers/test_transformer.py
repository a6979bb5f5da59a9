"""Transformer stacks: causality by gradients, padding, cached step == full pass."""

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta.layers import core
from t2t_delta.layers import transformer

T, V, H = 7, 16, 8


def _encoder(structure, dropout_rate=0.0):
  return transformer.TransformerEncoder(
      V, T, num_layers=2, hidden_size=H, filter_size=16, num_heads=2,
      dropout_rate=dropout_rate, structure=structure, seeds=core.SeedSequence(1))


def _decoder(memory_dim=None, memory_causal=False):
  return transformer.TransformerDecoder(
      V, T, num_layers=2, hidden_size=H, filter_size=16, num_heads=2,
      memory_dim=memory_dim, memory_causal=memory_causal, seeds=core.SeedSequence(2))


def _distinct_ids(batch=2):
  """Every position holds a different token, so table rows identify positions."""
  rng = np.random.default_rng(0)
  return tf.constant(np.stack([rng.permutation(V)[:T] for _ in range(batch)]),
                     tf.int32)


def _dependence(fn, ids, width):
  """[T_out, T_in] bool: does output position t depend on the input at position s.

  One backward pass: the batch holds T copies of `ids`; copy t sums output position t,
  so the gradient of copy t w.r.t. the per-position input offsets is row t.
  """
  ids = tf.tile(ids[:1], [T, 1])
  offset = tf.zeros([T, T, width])
  with tf.GradientTape() as tape:
    tape.watch(offset)
    out = fn(ids, offset)                                     # [T, T, D]
    weights = tf.range(1.0, out.shape[-1] + 1.0)
    target = tf.reduce_sum(tf.linalg.diag_part(tf.einsum('btd,d->bt', out, weights)))
  grad = tape.gradient(target, offset)
  return tf.norm(grad, axis=-1).numpy() > 0


def _encoder_dependence(encoder, ids, padding=None):
  if padding is not None:
    padding = tf.tile(padding[:1], [T, 1])
  return _dependence(lambda x, o: encoder(x, padding=padding, input_offset=o), ids, H)


def test_sinusoidal_positions_shape_and_range():
  pos = transformer.sinusoidal_positions(5, 6).numpy()
  assert pos.shape == (5, 6)
  np.testing.assert_allclose(pos[0, 0::2], 0.0)
  np.testing.assert_allclose(pos[0, 1::2], 1.0)
  assert np.all(np.abs(pos) <= 1.0)


def test_encoder_anti_causal_by_gradients():
  depends = _encoder_dependence(_encoder('anti_causal'), _distinct_ids())
  expected = np.triu(np.ones([T, T], bool))       # t sees s >= t
  np.testing.assert_array_equal(depends, expected)


def test_encoder_non_causal_sees_everything():
  depends = _encoder_dependence(_encoder('non_causal'), _distinct_ids())
  assert depends.all()


def test_encoder_padding_keys_are_hidden():
  ids = _distinct_ids()
  length = 4
  padding = tf.constant(np.arange(T)[None].repeat(2, 0) >= length)
  for structure in ('anti_causal', 'non_causal'):
    depends = _encoder_dependence(_encoder(structure), ids, padding)
    assert not depends[:length, length:].any(), structure
    other = tf.concat([ids[:, :length], tf.reverse(ids[:, length:], [1])], axis=1)
    enc = _encoder(structure)
    np.testing.assert_allclose(enc(ids, padding=padding)[:, :length],
                               enc(other, padding=padding)[:, :length], atol=1e-6)


def test_encoder_rejects_unknown_structure():
  with pytest.raises(ValueError, match='anti_causal'):
    _encoder('sideways')


def _decoder_dependence(decoder, memory=None):
  """Dependence of the logits at t on the input embeddings and on the memory at s."""
  ids = _distinct_ids()
  if memory is not None:
    memory = tf.tile(memory[:1], [T, 1, 1])
  on_input = _dependence(
      lambda x, o: decoder(x, input_offset=o, memory=memory), ids, H)
  on_memory = None
  if memory is not None:
    on_memory = _dependence(
        lambda x, m: decoder(x, memory=memory + m), ids, memory.shape[-1])
  return on_input, on_memory


def test_decoder_causal_by_gradients():
  on_input, _ = _decoder_dependence(_decoder())
  np.testing.assert_array_equal(on_input, np.tril(np.ones([T, T], bool)))


def test_decoder_memory_causal_and_unmasked():
  memory = tf.random.stateless_normal([2, T, 5], [0, 1])
  _, on_memory = _decoder_dependence(_decoder(5, memory_causal=True), memory)
  np.testing.assert_array_equal(on_memory, np.tril(np.ones([T, T], bool)))
  _, on_memory = _decoder_dependence(_decoder(5, memory_causal=False), memory)
  assert on_memory.all()


@pytest.mark.parametrize('memory_causal,jit', [(None, False), (False, False),
                                               (True, True)])
def test_step_matches_full_pass(memory_causal, jit):
  memory_dim = None if memory_causal is None else 5
  decoder = _decoder(memory_dim, bool(memory_causal))
  ids = _distinct_ids(3)
  offset = tf.random.stateless_normal([3, T, H], [4, 5])
  memory = memory_padding = None
  if memory_dim:
    memory = tf.random.stateless_normal([3, T, memory_dim], [2, 3])
    memory_padding = tf.constant([[False] * T, [False] * 5 + [True] * 2,
                                  [False] * 3 + [True] * 4])
  full = decoder(ids, memory=memory, memory_padding=memory_padding,
                 input_offset=offset).numpy()
  cache = decoder.init_cache(3, memory=memory, memory_padding=memory_padding)
  step = tf.function(decoder.step, jit_compile=jit)
  for t in range(T):
    logits, cache = step(ids[:, t], tf.constant(t), cache,
                         input_offset=offset[:, t])
    np.testing.assert_allclose(logits.numpy(), full[:, t], atol=1e-4, rtol=1e-4)


def test_dropout_is_deterministic_given_seed():
  encoder = _encoder('anti_causal', dropout_rate=0.5)
  ids = _distinct_ids()
  a = encoder(ids, training=True, seed=tf.constant([1, 2]))
  b = encoder(ids, training=True, seed=tf.constant([1, 2]))
  c = encoder(ids, training=True, seed=tf.constant([1, 3]))
  d = encoder(ids, training=False)
  np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert not np.allclose(a.numpy(), c.numpy())
  assert not np.allclose(a.numpy(), d.numpy())


def test_bfloat16_compute():
  decoder = _decoder()
  logits = decoder(_distinct_ids(), dtype=tf.bfloat16)
  assert logits.dtype == tf.bfloat16
  assert np.isfinite(tf.cast(logits, tf.float32).numpy()).all()
