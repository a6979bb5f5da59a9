"""layers/attention.py: masks against their definitions, causality by gradients, the
cached form against the full pass, and a query that sees no key."""

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta.layers import attention

T, D = 6, 8


@pytest.mark.parametrize('strict', [False, True])
def test_masks_match_their_definitions(strict):
  causal = attention.causal_mask(T, strict).numpy()
  anti = attention.anti_causal_mask(T, strict).numpy()
  for i in range(T):
    for j in range(T):
      assert causal[i, j] == (j < i if strict else j <= i)
      assert anti[i, j] == (j > i if strict else j >= i)


def test_mask_bias_is_zero_or_minus_1e9():
  bias = attention.mask_bias(tf.constant([[True, False]])).numpy()
  np.testing.assert_array_equal(bias, [[0., -1e9]])


def _layer(num_heads=2):
  return attention.MultiHeadAttention(D, D, num_heads, name='attention')


def test_causal_attention_reads_no_later_position():
  layer = _layer()
  x = tf.random.stateless_normal([1, T, D], [1, 2])
  for strict in (False, True):
    mask = attention.causal_mask(T, strict)
    for i in range(T):
      with tf.GradientTape() as tape:
        tape.watch(x)
        out = layer(x, x, mask=mask)[0, i]
      grad = np.abs(tape.gradient(out, x).numpy()[0]).sum(-1)
      # Later positions are unseen and every visible key is read. With a strict mask
      # the query's own position counts only through the query, which matters once
      # two or more keys compete (one key gets weight 1, none gives output 0).
      assert np.all(grad[i + 1:] == 0.0), (strict, i)
      visible = i if strict else i + 1
      assert np.all(grad[:visible] > 0.0), (strict, i)
      if strict:
        assert (grad[i] > 0.0) == (visible >= 2), i


def test_cached_keys_and_values_give_the_full_pass():
  layer = _layer()
  x = tf.random.stateless_normal([2, T, D], [3, 4])
  full = layer(x, x, mask=attention.causal_mask(T)).numpy()
  k, v = layer.keys_values(x)
  for i in range(T):
    step = layer.attend(x[:, i:i + 1], k[:, :, :i + 1], v[:, :, :i + 1]).numpy()
    np.testing.assert_allclose(step[:, 0], full[:, i], rtol=1e-5, atol=1e-6)


def test_a_query_that_sees_no_key_gets_the_output_bias_only():
  layer = _layer()
  x = tf.random.stateless_normal([1, T, D], [5, 6])
  out = layer(x, x, mask=attention.causal_mask(T, strict=True)).numpy()
  assert np.all(np.isfinite(out))
  np.testing.assert_allclose(out[0, 0], layer.output.bias.numpy(), atol=1e-6)


def test_heads_must_divide_the_widths():
  with pytest.raises(ValueError, match='divisible by num_heads 3'):
    attention.MultiHeadAttention(D, D, 3)
