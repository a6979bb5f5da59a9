"""The capabilities models declare in `models/base.py`: defaults, prior names, the text
decoder interface, and that every registered model keeps to them."""

import numpy as np
import pytest
import tensorflow as tf

import t2t_delta  # noqa: F401
from t2t_delta import registry
from t2t_delta.errors import UserError
from t2t_delta.models import ar_image
from t2t_delta.models import ar_text
from t2t_delta.models import base
from t2t_delta.models import delta_vae_text
from t2t_delta.models import vae_conv
from t2t_delta.problems import base as problems_base

from tiny_problems import ImagesOfShape

SEED = tf.constant([5, 6], tf.int32)


class _Text(problems_base.TextProblem):
  registered_name = 'test_text'
  max_length = 6
  vocab_size = 11


def _ar_text():
  return ar_text.ArText(_Text(), num_layers=1, hidden_size=8, filter_size=8,
                        num_heads=2)


def _delta_vae_text():
  return delta_vae_text.DeltaVaeText(_Text(), num_layers=1, hidden_size=8,
                                     filter_size=8, num_heads=2, latent_dim=2,
                                     aux_hidden=4)


def _ar_image():
  return ar_image.ArImage(ImagesOfShape(), num_decoder_layers=1, decoder_hidden=4,
                          decoder_filter=4, num_decoder_attention=0, num_heads=1,
                          num_components=1)


def test_a_model_without_latents_declares_none():
  model = _ar_text()
  assert model.has_latents is False
  assert model.aux_prior is None
  assert model.prior_names() == ()
  with pytest.raises(UserError) as error:
    model.sample_prior(2, SEED)
  message = str(error.value)
  assert "'ar_text' has no latents" in message
  assert "'model'" in message and "'aux'" in message


def test_prior_names_of_a_latent_model_without_auxiliary_prior():
  model = vae_conv.VaeConv(ImagesOfShape(), latent_dim=3, hidden=4)
  assert model.has_latents and model.aux_prior is None
  assert model.prior_names() == ('model',)
  z = model.sample_prior(4, SEED)
  np.testing.assert_array_equal(z, model.prior().sample(4, seed=SEED))
  with pytest.raises(UserError,
                     match="'vae_conv' has no auxiliary prior; valid: 'model'"):
    model.sample_prior(4, SEED, prior='aux')
  # The old name of the model's prior is not accepted: one set of names everywhere.
  with pytest.raises(UserError, match="prior='ar1' is unknown; valid: 'model' .*'aux'"):
    model.sample_prior(4, SEED, prior='ar1')


def test_model_and_aux_priors_of_delta_vae_text():
  model = _delta_vae_text()
  assert model.prior_names() == ('model', 'aux')
  assert model.named_prior('model').event_shape == [6, 2]
  assert model.named_prior('aux') is model.aux_prior
  own = model.sample_prior(3, SEED)
  aux = model.sample_prior(3, SEED, prior='aux')
  assert own.shape == aux.shape == [3, 6, 2]
  np.testing.assert_array_equal(own, model.prior().sample(3, seed=SEED))
  np.testing.assert_array_equal(aux, model.aux_prior.sample(3, seed=SEED))
  assert not np.allclose(own, aux)


def test_text_decoder_interface_is_declared_not_probed():
  assert isinstance(_ar_text(), base.TextDecoderModel)
  assert isinstance(_delta_vae_text(), base.TextDecoderModel)
  assert not isinstance(_ar_image(), base.TextDecoderModel)
  model = _ar_text()
  cache = model.init_decode_cache(2)
  logits, _ = model.decode_step(tf.zeros([2], tf.int32), 0, cache)
  full = model.decode_logits(tf.zeros([2, 6], tf.int32), position=0)
  np.testing.assert_allclose(logits, full, rtol=1e-5, atol=1e-5)


def test_image_decoder_is_declared():
  assert _ar_image().image_decoder is not None
  assert vae_conv.VaeConv(ImagesOfShape(), latent_dim=3, hidden=4).image_decoder is None
  assert _ar_text().image_decoder is None


def test_display_name():
  assert _ar_text().display_name == 'ar_text'

  class Unregistered(base.Model):
    pass

  model = Unregistered(ImagesOfShape())
  assert model.display_name == 'Unregistered'
  assert model.summary() == 'Unregistered: 0 parameters'


@pytest.mark.parametrize('name', registry.list_models())
def test_registered_models_implement_what_their_classes_declare(name):
  cls = registry.model(name)
  assert issubclass(cls, base.Model)
  if issubclass(cls, base.TextDecoderModel):
    for method in ('decode_logits', 'init_decode_cache', 'decode_step'):
      assert getattr(cls, method) is not getattr(base.TextDecoderModel, method), method
  if issubclass(cls, base.LatentVariableModel):
    for method in ('encode', 'prior', 'likelihood'):
      declared = getattr(base.LatentVariableModel, method)
      assert getattr(cls, method) is not declared, method
    # p(x|z) is `likelihood`; "decode" is left to the samplers.
    assert not hasattr(cls, 'decode')
