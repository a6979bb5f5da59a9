"""models/ar_image.py: the latent-free PixelSNAIL decoder."""

import math

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta.models import ar_image

from model_checks import ImagesOfShape, check_output, image_features, loss_and_grads


@pytest.mark.parametrize('shape', [(4, 5, 3), (5, 3, 1)])
def test_ar_image_has_zero_rate(shape):
  model = ar_image.ArImage(ImagesOfShape(shape), num_decoder_layers=2, decoder_hidden=8,
                           decoder_filter=16, num_decoder_attention=1, num_heads=2,
                           num_components=3)
  assert not model.has_latents and model.committed_rate() is None
  out, _, grads = loss_and_grads(model, image_features(shape), tf.constant([1, 1]))
  check_output(model, out, 2)
  np.testing.assert_array_equal(out['rate'], np.zeros(2))
  assert all(np.all(np.isfinite(g.numpy())) for g in grads)
  # At initialisation the model is close to uniform: about 8 bits per dimension.
  bits = out['distortion'].numpy() / (np.prod(shape) * math.log(2.))
  assert np.all((bits > 6.) & (bits < 10.))
