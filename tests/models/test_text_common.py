"""models/text_common.py: decoder inputs and token dropout."""

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta.errors import UserError
from t2t_delta.models import ar_text
from t2t_delta.models import delta_vae_text
from t2t_delta.models import text_common

from model_checks import T, TextOfLength, text_features

SEED = tf.constant([3, 4], tf.int32)


def test_shift_right_puts_the_start_id_first():
  targets = tf.constant([[5, 6, 7], [8, 9, 1]])
  np.testing.assert_array_equal(text_common.shift_right(targets),
                                [[text_common.START_ID, 5, 6],
                                 [text_common.START_ID, 8, 9]])


def test_drop_tokens_hides_inputs_at_the_rate_and_keeps_the_start():
  inputs = tf.random.stateless_uniform([400, 50], [1, 2], minval=3, maxval=100,
                                       dtype=tf.int32)
  inputs = tf.concat([tf.zeros([400, 1], tf.int32), inputs[:, 1:]], axis=1)
  np.testing.assert_array_equal(text_common.drop_tokens(inputs, 0.0, SEED), inputs)
  dropped = text_common.drop_tokens(inputs, 0.3, SEED).numpy()
  hidden = dropped != inputs.numpy()
  assert not hidden[:, 0].any()
  # Each later input is hidden independently with probability 0.3 (19600 draws:
  # binomial standard deviation 0.0033).
  assert abs(hidden[:, 1:].mean() - 0.3) < 0.015
  np.testing.assert_array_equal(dropped[hidden], text_common.START_ID)
  np.testing.assert_array_equal(dropped, text_common.drop_tokens(inputs, 0.3, SEED))
  assert (dropped != text_common.drop_tokens(inputs, 0.3, SEED + 1).numpy()).any()


def _models(token_dropout):
  kwargs = dict(num_layers=1, hidden_size=16, filter_size=32, num_heads=2,
                token_dropout=token_dropout, dropout_rate=0.0)
  return (ar_text.ArText(TextOfLength(), **kwargs),
          delta_vae_text.DeltaVaeText(TextOfLength(), latent_dim=2, aux_hidden=8,
                                      **kwargs))


def test_token_dropout_acts_in_training_only():
  features = text_features([T, 6])
  for plain, dropping in zip(_models(0.0), _models(0.5)):
    # Same seed, so the same initial weights: only the inputs differ.
    for training, same in ((False, True), (True, False)):
      a = plain(features, training=training, seed=SEED)['distortion'].numpy()
      b = dropping(features, training=training, seed=SEED)['distortion'].numpy()
      assert np.allclose(a, b, rtol=1e-6) == same, (type(plain).__name__, training)


@pytest.mark.parametrize('rate', [-0.1, 1.0, 1.5])
def test_bad_token_dropout_is_a_user_error(rate):
  for model in (ar_text.ArText, delta_vae_text.DeltaVaeText):
    with pytest.raises(UserError, match='token_dropout'):
      model(TextOfLength(), num_layers=1, hidden_size=16, filter_size=32,
            num_heads=2, token_dropout=rate)
