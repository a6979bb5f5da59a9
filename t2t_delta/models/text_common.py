"""Pieces shared by the text models: decoder inputs, the masked token distortion and
the constructor checks.

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
