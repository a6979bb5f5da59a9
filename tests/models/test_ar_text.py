"""models/ar_text.py: the latent-free Transformer language model."""

import numpy as np
import tensorflow as tf

from t2t_delta.models import ar_text

from model_checks import T, V, TextOfLength, text_features

SEED = tf.constant([3, 4], tf.int32)


def test_ar_text_rate_zero_and_padding_invariant():
  model = ar_text.ArText(TextOfLength(), num_layers=2, hidden_size=16, filter_size=32,
                         num_heads=2)
  features = text_features([T, 4])
  out = model(features, training=True, seed=SEED)
  np.testing.assert_array_equal(out['rate'].numpy(), 0.0)
  assert np.isfinite(out['distortion'].numpy()).all()
  targets = features['targets'].numpy().copy()
  targets[1, 4:] = 5
  other = model(dict(features, targets=tf.constant(targets)), training=True, seed=SEED)
  np.testing.assert_allclose(out['distortion'], other['distortion'], rtol=1e-6)
  assert model.committed_rate() == 0.0
  # Initial loss is about log V per token.
  per_token = out['distortion'].numpy() / features['mask'].numpy().sum(-1)
  assert np.all(np.abs(per_token - np.log(V)) < 1.5)
