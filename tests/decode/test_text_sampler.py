"""Cached text sampling equals naive full recomputation; EOS, priming, seeds."""

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta.decode import text_sampler
from t2t_delta.models import ar_text
from t2t_delta.models import delta_vae_text
from t2t_delta.models import text_common
from t2t_delta.problems.base import TextProblem

T, V, B = 10, 13, 4
SMALL = dict(num_layers=2, hidden_size=16, filter_size=32, num_heads=2)


class _Problem(TextProblem):
  max_length = T
  vocab_size = V


@pytest.fixture(scope='module')
def vae():
  return delta_vae_text.DeltaVaeText(_Problem(), aux_hidden=8, seed=3, **SMALL)


@pytest.fixture(scope='module')
def lm():
  return ar_text.ArText(_Problem(), seed=4, **SMALL)


def _assert_same(cached, naive):
  np.testing.assert_array_equal(cached['tokens'].numpy(), naive['tokens'].numpy())
  np.testing.assert_array_equal(cached['lengths'].numpy(), naive['lengths'].numpy())
  np.testing.assert_allclose(cached['logits'].numpy(), naive['logits'].numpy(),
                             atol=1e-4, rtol=0)


def _check_eos_padding(out):
  tokens, lengths = out['tokens'].numpy(), out['lengths'].numpy()
  for row, n in zip(tokens, lengths):
    assert np.all(row[:n - 1] != text_sampler.EOS_ID) if n else True
    assert np.all(row[n:] == text_sampler.PAD_ID)
    if n < len(row):
      assert row[n - 1] == text_sampler.EOS_ID


def test_cached_equals_naive_with_latents(vae):
  z = vae.sample_prior(B, tf.constant([1, 2]))
  kwargs = dict(seed=tf.constant([5, 6]), z=z, return_logits=True, temperature=1.5)
  cached = text_sampler.sample_cached(vae, **kwargs)
  naive = text_sampler.sample_naive(vae, **kwargs)
  _assert_same(cached, naive)
  assert cached['tokens'].shape == (B, T)
  assert cached['logits'].shape == (B, T, V)
  _check_eos_padding(cached)


def test_cached_equals_naive_without_latents(lm):
  kwargs = dict(seed=tf.constant([7, 8]), batch_size=B, return_logits=True)
  _assert_same(text_sampler.sample_cached(lm, **kwargs),
               text_sampler.sample_naive(lm, **kwargs))


@pytest.mark.parametrize('use_latents', [True, False])
def test_cached_equals_naive_with_prime(vae, lm, use_latents):
  model = vae if use_latents else lm
  z = vae.sample_prior(B, tf.constant([3, 3])) if use_latents else None
  prime = tf.constant([[4, 5, 6, 7], [8, 9, 10, 11], [12, 4, 5, 6], [1, 7, 7, 7]])
  prime_length = tf.constant([4, 2, 0, 1])
  kwargs = dict(seed=tf.constant([9, 9]), z=z, batch_size=B, prime_ids=prime,
                prime_length=prime_length, return_logits=True)
  cached = text_sampler.sample_cached(model, **kwargs)
  _assert_same(cached, text_sampler.sample_naive(model, **kwargs))
  tokens = cached['tokens'].numpy()
  np.testing.assert_array_equal(tokens[0, :4], [4, 5, 6, 7])
  np.testing.assert_array_equal(tokens[1, :2], [8, 9])
  # A primed EOS ends the sequence at once.
  np.testing.assert_array_equal(tokens[3], [1] + [0] * (T - 1))
  assert cached['lengths'].numpy()[3] == 1


def test_logits_match_teacher_forced_model(vae):
  z = vae.sample_prior(B, tf.constant([1, 1]))
  out = text_sampler.sample_cached(vae, tf.constant([2, 2]), z=z, return_logits=True,
                                   stop_at_eos=False)
  inputs = text_common.shift_right(out['tokens'])
  full = vae.decode_logits(inputs, z)
  lengths = out['lengths'].numpy()
  for b in range(B):
    np.testing.assert_allclose(out['logits'][b, :lengths[b]],
                               full[b, :lengths[b]], atol=1e-4)


def test_seeds_temperature_and_greedy(lm):
  a = text_sampler.sample_cached(lm, tf.constant([1, 1]), batch_size=B)
  b = text_sampler.sample_cached(lm, tf.constant([1, 1]), batch_size=B)
  c = text_sampler.sample_cached(lm, tf.constant([1, 2]), batch_size=B)
  np.testing.assert_array_equal(a['tokens'], b['tokens'])
  assert not np.array_equal(a['tokens'], c['tokens'])
  greedy = text_sampler.sample_cached(lm, tf.constant([1, 1]), batch_size=B,
                                      temperature=0.0, return_logits=True)
  other = text_sampler.sample_cached(lm, tf.constant([3, 1]), batch_size=B,
                                     temperature=0.0)
  np.testing.assert_array_equal(greedy['tokens'], other['tokens'])
  _check_eos_padding(greedy)
  logits = greedy['logits'].numpy()[:, 0]
  logits[:, text_sampler.PAD_ID] = -np.inf
  np.testing.assert_array_equal(greedy['tokens'].numpy()[:, 0], logits.argmax(-1))
  for out in (a, c):
    assert not np.any(out['tokens'].numpy()[:, 0] == text_sampler.PAD_ID)


def test_max_length_shorter_than_window(lm):
  out = text_sampler.sample_cached(lm, tf.constant([1, 1]), batch_size=B,
                                   max_length=3, return_logits=True)
  assert out['tokens'].shape == (B, 3) and out['logits'].shape == (B, 3, V)
  full = text_sampler.sample_cached(lm, tf.constant([1, 1]), batch_size=B,
                                    stop_at_eos=False)
  np.testing.assert_array_equal(out['tokens'], full['tokens'][:, :3])


def test_cached_sampler_compiles_with_xla():
  model = delta_vae_text.DeltaVaeText(_Problem(), aux_hidden=8, num_layers=1,
                                      hidden_size=8, filter_size=16, num_heads=2)
  z = model.sample_prior(2, tf.constant([1, 2]))
  xla = text_sampler.sample_cached(model, tf.constant([5, 6]), z=z, jit_compile=True,
                                   return_logits=True)
  _check_eos_padding(xla)
  # Greedy decoding does not depend on the random generator, so XLA and the TF
  # kernels must agree.
  greedy = [text_sampler.sample_cached(model, tf.constant([5, 6]), z=z,
                                       temperature=0.0, jit_compile=jit)
            for jit in (True, False)]
  np.testing.assert_array_equal(greedy[0]['tokens'], greedy[1]['tokens'])


def test_argument_errors(vae, lm):
  with pytest.raises(ValueError, match='batch_size'):
    text_sampler.sample_cached(lm, tf.constant([1, 1]))
  with pytest.raises(ValueError, match='latents'):
    text_sampler.sample_cached(vae, tf.constant([1, 1]), batch_size=2)
  with pytest.raises(ValueError, match='max_length'):
    text_sampler.sample_cached(lm, tf.constant([1, 1]), batch_size=2,
                               max_length=T + 1)
