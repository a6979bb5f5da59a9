"""Pieces shared by the text models: decoder inputs, token dropout, the masked token
distortion and the constructor checks.

Decoder inputs are the targets shifted right with `START_ID` at position 0 (the
padding id doubling as the start symbol), so the logits at position t predict target t.
"""

import tensorflow as tf

from t2t_delta.errors import UserError
from t2t_delta.problems.base import PAD_ID

START_ID = PAD_ID


def shift_right(targets, start_id=START_ID):
  """[B, T] targets -> decoder inputs [B, T]: start id, then targets[:, :-1]."""
  start = tf.fill([tf.shape(targets)[0], 1], tf.cast(start_id, targets.dtype))
  return tf.concat([start, targets[:, :-1]], axis=1)


def drop_tokens(inputs, rate, seed):
  """Token ("word") dropout of decoder inputs (Bowman et al. 2016), for training.

  Each input after position 0 is replaced by `START_ID` with probability `rate`, so
  the decoder cannot always read the sentence's earlier words and information it
  would otherwise infer from them (a topic, a tense) is worth carrying in a latent.
  The targets and the likelihood's definition are unchanged; evaluation and sampling
  see every input. inputs: [B, T] int ids; rate: a Python float in [0, 1); seed: a
  stateless seed [2].
  """
  if not rate:
    return inputs
  keep = tf.random.stateless_uniform(tf.shape(inputs), seed) >= rate
  keep = tf.concat([tf.ones_like(keep[:, :1]), keep[:, 1:]], axis=1)
  return tf.where(keep, inputs, tf.cast(START_ID, inputs.dtype))


def decoder_inputs(targets, token_dropout, training, seed):
  """[B, T] targets -> decoder inputs: `shift_right`, then `drop_tokens` in training."""
  inputs = shift_right(targets)
  return drop_tokens(inputs, token_dropout, seed) if training else inputs


def check_token_dropout(rate, model_name):
  if not 0.0 <= float(rate) < 1.0:
    raise UserError(f'{model_name}.token_dropout={rate!r}; it is the probability of '
                    'hiding a decoder input, in [0, 1) (0 turns it off).')
  return float(rate)


def token_distortion(logits, targets, mask):
  """-Σ_t mask_t log p(x_t) per example, [B] nats (computed in float32)."""
  nll = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=targets, logits=tf.cast(logits, tf.float32))
  return tf.reduce_sum(nll * tf.cast(mask, tf.float32), axis=-1)


def check_text_problem(problem, model_name):
  if getattr(problem, 'modality', None) != 'text':
    raise UserError(f'model {model_name!r} needs a text problem; got '
                    f'{getattr(problem, "registered_name", problem)!r}.')


def check_heads(hidden_size, num_heads):
  if hidden_size % num_heads:
    raise UserError(f'hidden_size={hidden_size} must be divisible by '
                    f'num_heads={num_heads}.')
