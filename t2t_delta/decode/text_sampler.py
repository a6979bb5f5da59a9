"""Ancestral sampling of token sequences from the text models, cached and naive.

Both samplers generate one position per iteration of a compiled `tf.while_loop` and
share everything but how the logits of position t are obtained:

* `sample_cached`: the decoder's incremental form (`model.decode_step`) — each
  iteration runs only the new position through the network, reading the keys and
  values of earlier positions from a pre-allocated cache (`model.init_decode_cache`).
* `sample_naive`: the reference — each iteration runs the whole decoder over the
  static-length token buffer (`model.decode_logits`; positions after t hold padding
  and cannot influence position t, the decoder being causal) and keeps position t.
  The vocabulary projection runs on position t only. Its cost per iteration does not
  depend on t.

Sampling at step t uses the per-step seed `fold_in(seed, t)` and
`tf.random.stateless_categorical(logits / temperature)` (argmax when temperature is
0), so equal seeds give equal tokens in both samplers (run both with the same
`jit_compile`: XLA's stateless generators are not bit-identical to the TF kernels).
The padding id 0 is never sampled. With `prime_ids` and
`prime_length` ("complete" mode) positions t < prime_length[b] take the given tokens
instead of samples. After an example emits EOS it emits padding (id 0); the loop ends
once every example has finished (unless `stop_at_eos=False`) or after `max_length`
positions.

The models provide the interface declared by `t2t_delta.models.base.TextDecoderModel`
(`ar_text`, `delta_vae_text`): `decode_logits(inputs, z, position)`,
`init_decode_cache(batch_size, z)`, `decode_step(ids, t, cache)`, `max_length`,
`vocab_size`. Latent models need z [B, T, d] (e.g. `model.sample_prior(batch, seed)` or
posterior means); `ar_text` takes z=None.

    out = sample_cached(model, seed=tf.constant([1, 2]), z=z, temperature=0.8)
    out['tokens']    # int32 [B, max_length], padded with 0 after EOS
    out['lengths']   # int32 [B], tokens up to and including EOS
    out['logits']    # float32 [B, max_length, V] when return_logits=True
"""

import weakref

import tensorflow as tf

from t2t_delta.models import text_common
from t2t_delta.problems.base import EOS_ID, PAD_ID

_COMPILED = weakref.WeakKeyDictionary()


def _batch_size(batch_size, z, prime_ids):
  for source in (z, prime_ids):
    if source is not None:
      size = source.shape[0]
      if batch_size is not None and size != batch_size:
        raise ValueError(f'batch_size={batch_size} disagrees with the leading '
                         f'dimension {size} of z or prime_ids.')
      return size
  if batch_size is None:
    raise ValueError('batch_size is needed when neither z nor prime_ids is given.')
  return int(batch_size)


def _select(logits, temperature, seed):
  """Samples [B] int32 from logits [B, V] at `temperature` (argmax when <= 0).

  The padding id is never chosen: it marks the end of a sequence, not a token.
  """
  is_pad = tf.equal(tf.range(tf.shape(logits)[-1]), PAD_ID)[None, :]
  logits = tf.where(is_pad, tf.constant(-1e9, logits.dtype), logits)
  safe_temperature = tf.where(temperature > 0.0, temperature, 1.0)
  sampled = tf.random.stateless_categorical(logits / safe_temperature, 1, seed,
                                            dtype=tf.int32)[:, 0]
  greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
  return tf.where(temperature > 0.0, sampled, greedy)


def _build(model, mode, batch_size, return_logits, stop_at_eos):
  """The (uncompiled) sampling function for fixed static settings.

  The number of positions to generate, `limit`, is a tensor argument, so one traced
  (or compiled) loop serves every max_length; buffers always span model.max_length.
  """
  total = model.max_length
  vocab = model.vocab_size

  def run(seed, z, temperature, prime_ids, prime_length, limit):
    seed = tf.convert_to_tensor(seed, tf.int32)
    temperature = tf.cast(temperature, tf.float32)
    tokens = tf.zeros([batch_size, total], tf.int32)
    logits_buf = tf.zeros([batch_size, total if return_logits else 1,
                           vocab if return_logits else 1], tf.float32)
    previous = tf.fill([batch_size], PAD_ID)        # the start id at position 0
    finished = tf.zeros([batch_size], tf.bool)
    if mode == 'cached':
      model_state = model.init_decode_cache(batch_size, z)
    else:
      model_state = tf.zeros([], tf.int32)          # nothing carried

    def body(t, tokens, logits_buf, previous, finished, model_state):
      if mode == 'cached':
        logits, model_state = model.decode_step(previous, t, model_state)
      else:
        inputs = text_common.shift_right(tokens)
        logits = model.decode_logits(inputs, z, position=t)
      logits = tf.cast(logits, tf.float32)
      token = _select(logits, temperature,
                      tf.random.experimental.stateless_fold_in(seed, t))
      if prime_ids is not None:
        token = tf.where(t < prime_length, prime_ids[:, t], token)
      token = tf.where(finished, PAD_ID, token)
      finished = tf.logical_or(finished, tf.equal(token, EOS_ID))
      at_t = tf.one_hot(t, total, dtype=tf.int32)[None, :]
      tokens += at_t * token[:, None]
      if return_logits:
        at_t = tf.one_hot(t, total, dtype=tf.float32)[None, :, None]
        logits_buf += at_t * logits[:, None, :]
      return t + 1, tokens, logits_buf, token, finished, model_state

    def cond(t, tokens, logits_buf, previous, finished, model_state):
      del tokens, logits_buf, previous, model_state
      going = t < limit
      if stop_at_eos:
        going = tf.logical_and(going, tf.logical_not(tf.reduce_all(finished)))
      return going

    _, tokens, logits_buf, _, _, _ = tf.while_loop(
        cond, body, (tf.constant(0), tokens, logits_buf, previous, finished,
                     model_state),
        maximum_iterations=total)
    is_eos = tf.equal(tokens, EOS_ID)
    first_eos = tf.argmax(tf.cast(is_eos, tf.int32), axis=1, output_type=tf.int32)
    lengths = tf.where(tf.reduce_any(is_eos, axis=1), first_eos + 1, limit)
    out = {'tokens': tokens, 'lengths': lengths}
    if return_logits:
      out['logits'] = logits_buf
    return out

  return run


def _sample(mode, model, seed, z, batch_size, temperature, prime_ids, prime_length,
            max_length, return_logits, stop_at_eos, jit_compile):
  max_length = int(max_length or model.max_length)
  if not 1 <= max_length <= model.max_length:
    raise ValueError(f'max_length={max_length} must be in [1, {model.max_length}] '
                     '(the model\'s max_length).')
  if z is not None:
    z = tf.convert_to_tensor(z, tf.float32)
  if prime_ids is not None:
    prime_ids = tf.convert_to_tensor(prime_ids, tf.int32)
    width = prime_ids.shape[1]
    if width > model.max_length:
      raise ValueError(f'prime_ids has {width} positions; at most '
                       f'{model.max_length}.')
    prime_ids = tf.pad(prime_ids, [[0, 0], [0, model.max_length - width]])
  batch_size = _batch_size(batch_size, z, prime_ids)
  if prime_ids is not None:
    if prime_length is None:
      prime_length = tf.fill([batch_size], width)
    prime_length = tf.convert_to_tensor(prime_length, tf.int32)
  elif prime_length is not None:
    raise ValueError('prime_length needs prime_ids.')

  key = (mode, batch_size, bool(return_logits), bool(stop_at_eos),
         bool(jit_compile), z is None, prime_ids is None)
  functions = _COMPILED.setdefault(model, {})
  if key not in functions:
    # A proxy, so that the cached function does not keep the model alive.
    run = _build(weakref.proxy(model), mode, batch_size, return_logits, stop_at_eos)
    functions[key] = tf.function(run, jit_compile=jit_compile, autograph=False)
  out = functions[key](tf.convert_to_tensor(seed, tf.int32), z,
                       tf.constant(temperature, tf.float32), prime_ids, prime_length,
                       tf.constant(max_length, tf.int32))
  out['tokens'] = out['tokens'][:, :max_length]
  if 'logits' in out:
    out['logits'] = out['logits'][:, :max_length]
  return out


def sample_cached(model, seed, z=None, batch_size=None, temperature=1.0,
                  prime_ids=None, prime_length=None, max_length=None,
                  return_logits=False, stop_at_eos=True, jit_compile=False):
  """Samples token sequences with the decoder's KV cache, one position per iteration.

  Args:
    model: a text model with the decoding interface (`delta_vae_text`, `ar_text`).
    seed: int32 [2] stateless seed.
    z: float [B, T, d] latents for latent models (T = model.max_length), else None.
    batch_size: B when neither z nor prime_ids gives it.
    temperature: softmax temperature; 0 means greedy (argmax).
    prime_ids: optional int32 [B, P] (P <= T) prefix tokens to force.
    prime_length: optional int32 [B], how many of `prime_ids` to force per example
      (default P for all).
    max_length: number of positions to generate (default model.max_length).
    return_logits: also return the logits of every generated position.
    stop_at_eos: end the loop once every example has emitted EOS.
    jit_compile: compile the whole loop with XLA.

  Returns:
    dict with 'tokens' int32 [B, max_length] (0 after EOS), 'lengths' int32 [B]
    (through the first EOS, or max_length), and with `return_logits` 'logits' float32
    [B, max_length, V] (zero at positions never generated).
  """
  return _sample('cached', model, seed, z, batch_size, temperature, prime_ids,
                 prime_length, max_length, return_logits, stop_at_eos, jit_compile)


def sample_naive(model, seed, z=None, batch_size=None, temperature=1.0,
                 prime_ids=None, prime_length=None, max_length=None,
                 return_logits=False, stop_at_eos=True, jit_compile=False):
  """Like `sample_cached`, recomputing the whole decoder at every position."""
  return _sample('naive', model, seed, z, batch_size, temperature, prime_ids,
                 prime_length, max_length, return_logits, stop_at_eos, jit_compile)
