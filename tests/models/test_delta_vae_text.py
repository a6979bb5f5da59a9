"""delta_vae_text and ar_text: masked KL, padding invariance, causality, XLA."""

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta import distributions
from t2t_delta.errors import UserError
from t2t_delta.models import ar_text
from t2t_delta.models import delta_vae_text
from t2t_delta.models import text_common

from model_checks import T, V
from model_checks import TextOfLength as _Problem
from model_checks import text_features as _features

SMALL = dict(num_layers=2, hidden_size=16, filter_size=32, num_heads=2, aux_hidden=8)


def _model(**kwargs):
  return delta_vae_text.DeltaVaeText(_Problem(), **dict(SMALL, **kwargs))


SEED = tf.constant([3, 4], tf.int32)


@pytest.mark.parametrize('prior_type,structure', [('ar1', 'anti_causal'),
                                                  ('standard_normal', 'non_causal')])
def test_outputs_finite_and_rate_above_committed(prior_type, structure):
  model = _model(prior_type=prior_type, encoder_structure=structure)
  out = model(_features([T, 5, 1]), training=True, seed=SEED)
  for key in ('distortion', 'rate', 'aux_loss'):
    assert out[key].shape == (3,)
    assert np.isfinite(out[key].numpy()).all()
  assert out['rate_per_group'].shape == (3, 2)
  np.testing.assert_allclose(tf.reduce_sum(out['rate_per_group'], -1), out['rate'],
                             rtol=1e-6)
  for key in ('rate_aux', 'committed_rate'):
    assert out['extras'][key].shape == (3,)
    assert np.isfinite(out['extras'][key].numpy()).all()
  assert np.all(out['rate'].numpy() >= out['extras']['committed_rate'].numpy() - 1e-5)
  if prior_type == 'ar1':
    alphas = distributions.linear_alphas_np(0.2, 0.4, 2)
    np.testing.assert_allclose(
        out['extras']['committed_rate'],
        [distributions.committed_rate_np(alphas, n) for n in (T, 5, 1)], rtol=1e-5)
    np.testing.assert_allclose(model.committed_rate(),
                               distributions.committed_rate_np(alphas, T), rtol=1e-6)
  else:
    assert model.committed_rate() == 0.0


def test_padding_does_not_change_outputs():
  model = _model(encoder_structure='non_causal', dropout_rate=0.2)
  features = _features([T, 5, 2])
  targets = features['targets'].numpy().copy()
  targets[1, 5:] = [7, 8, 9, 10]
  targets[2, 2:] = 11
  changed = dict(features, targets=tf.constant(targets))
  for training in (False, True):
    a = model(features, training=training, seed=SEED)
    b = model(changed, training=training, seed=SEED)
    for key in ('distortion', 'rate', 'aux_loss'):
      np.testing.assert_allclose(a[key], b[key], rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(a['extras']['rate_aux'], b['extras']['rate_aux'],
                               rtol=1e-5)


def _position_dependence(fn, targets):
  """[T_out, T_in] bool: output t changes when the token at s changes."""
  base = fn(targets)
  rows = []
  for s in range(T):
    other = targets.numpy().copy()
    other[:, s] = 2 + (other[:, s] - 1) % (V - 2)    # a different non-special token
    rows.append(np.abs(fn(tf.constant(other)) - base).reshape(T, -1).max(-1) > 0)
  return np.stack(rows, axis=1)


def test_encoder_anti_causal_per_token():
  model = _model()
  features = _features([T])
  loc = lambda x: model.encode(dict(features, targets=x), False, SEED).mean()[0].numpy()
  depends = _position_dependence(loc, features['targets'])
  np.testing.assert_array_equal(depends, np.triu(np.ones([T, T], bool)))
  model = _model(encoder_structure='non_causal')
  loc = lambda x: model.encode(dict(features, targets=x), False, SEED).mean()[0].numpy()
  assert _position_dependence(loc, features['targets']).all()


def test_future_mean_pooling_is_anti_causal_and_exact():
  features = _features([T, 5, 1])
  model = _model(encoder_pooling='future_mean')
  loc = lambda x: model.encode(dict(features, targets=x), False, SEED).mean()[0].numpy()
  depends = _position_dependence(loc, features['targets'])
  np.testing.assert_array_equal(depends, np.triu(np.ones([T, T], bool)))
  # Against a loop: the mean over real positions s >= t, zero after the sentence.
  h = tf.random.stateless_normal([3, T, 4], [5, 6])
  mask = features['mask'].numpy()
  expected = np.zeros([3, T, 4], np.float32)
  for b in range(3):
    for t in range(T):
      real = [s for s in range(t, T) if mask[b, s] > 0]
      if mask[b, t] > 0:
        expected[b, t] = h.numpy()[b, real].mean(0)
  np.testing.assert_allclose(delta_vae_text.future_mean(h, features['mask']), expected,
                             rtol=1e-5, atol=1e-6)


def test_decoder_causal_per_token_given_z():
  model = _model()
  features = _features([T])
  z = model.sample_prior(1, SEED)

  def log_probs(x):
    dist = model.likelihood(dict(features, targets=x), z, False, SEED)
    return dist.logits[0].numpy()

  depends = _position_dependence(log_probs, features['targets'])
  # Logits at t depend on targets < t only (strictly lower triangular).
  np.testing.assert_array_equal(depends, np.tril(np.ones([T, T], bool), -1))


def test_decoder_reads_latents_causally():
  model = _model()
  features = _features([T])
  z = model.sample_prior(1, SEED)
  inputs = text_common.shift_right(features['targets'])
  with tf.GradientTape() as tape:
    tape.watch(z)
    logits = model.decode_logits(inputs, z)
    target = tf.reduce_sum(logits[0, 3] * tf.range(1.0, V + 1.0))
  grad = tf.norm(tape.gradient(target, z)[0], axis=-1).numpy()
  assert np.all(grad[:4] > 0) and np.all(grad[4:] == 0)


def test_runs_under_xla():
  model = _model(dropout_rate=0.1, num_layers=1)
  features = _features([T, 3])
  out = tf.function(lambda f, s: model(f, training=True, seed=s),
                    jit_compile=True)(features, SEED)
  for key in ('distortion', 'rate', 'aux_loss'):
    assert out[key].shape == (2,) and np.isfinite(out[key].numpy()).all()
  assert np.all(out['rate'].numpy() >= out['extras']['committed_rate'].numpy() - 1e-5)


def test_gradients_reach_encoder_decoder_and_aux_prior_separately():
  model = _model()
  features = _features([T, 4])
  with tf.GradientTape(persistent=True) as tape:
    out = model(features, training=True, seed=SEED)
    elbo = tf.reduce_mean(out['distortion'] + out['rate'])
    aux = tf.reduce_mean(out['aux_loss'])
  enc = tape.gradient(elbo, model.encoder.trainable_variables)
  assert all(g is not None for g in enc)
  aux_on_encoder = tape.gradient(aux, model.encoder.trainable_variables)
  assert all(g is None for g in aux_on_encoder)
  assert all(g is not None
             for g in tape.gradient(aux, model.aux_prior.trainable_variables))


def test_committed_rate_bits_solves_alpha_hi():
  model = _model(committed_rate_bits=3.0, alpha_lo=0.2)
  np.testing.assert_allclose(model.committed_rate() / np.log(2.0), 3.0, rtol=1e-5)
  assert model.alphas_np[0] == pytest.approx(0.2)


def test_independent_delta_posterior_commits_its_rate_per_real_step():
  lengths = [T, 5, 1]
  model = _model(prior_type='standard_normal', posterior_type='independent_delta',
                 committed_rate_bits=6.0)
  np.testing.assert_allclose(model.committed_rate(), 6.0 * np.log(2.0), rtol=1e-6)
  delta_dim = 6.0 * np.log(2.0) / (T * 2)
  # Large raw outputs of both signs: the constraint must hold for any encoder output.
  for scale in (1.0, 30.0):
    for variable in model.posterior_head.trainable_variables:
      variable.assign(variable * scale)
    out = model(_features(lengths, seed=int(scale)), training=True, seed=SEED)
    committed = out['extras']['committed_rate'].numpy()
    np.testing.assert_allclose(committed, [n * 2 * delta_dim for n in lengths],
                               rtol=1e-5)
    assert np.all(out['rate'].numpy() >= committed * (1 - 1e-5))
    # Every dimension of every real step keeps its share.
    loc, posterior_scale = model._posterior_params(
        _features(lengths)['targets'], _features(lengths)['mask'], False, SEED)
    per_element = distributions.standard_normal_kl(loc, posterior_scale).numpy()
    assert per_element.min() >= delta_dim * (1 - 1e-4)


def test_bad_settings_are_user_errors():
  with pytest.raises(UserError, match='anti_causal'):
    _model(encoder_structure='causal')
  with pytest.raises(UserError, match='future_mean'):
    _model(encoder_pooling='max')
  with pytest.raises(UserError, match='ar1'):
    _model(prior_type='laplace')
  with pytest.raises(UserError, match='num_heads'):
    _model(hidden_size=15, num_heads=2)
  with pytest.raises(UserError, match='independent_delta'):
    _model(posterior_type='independent_delta', committed_rate_bits=3.0)
  with pytest.raises(UserError, match='committed_rate_bits'):
    _model(prior_type='standard_normal', posterior_type='independent_delta')
  with pytest.raises(UserError, match='mean_field'):
    _model(posterior_type='iaf')
  with pytest.raises(UserError, match='bfloat16'):
    _model(compute_dtype='float16')


def test_registered_and_gin_configurable():
  import gin
  from t2t_delta import registry
  assert registry.model('delta_vae_text') is delta_vae_text.DeltaVaeText
  assert registry.model('ar_text') is ar_text.ArText
  with gin.unlock_config():
    gin.parse_config('delta_vae_text.latent_dim = 3\ndelta_vae_text.hidden_size = 8\n'
                     'delta_vae_text.filter_size = 8\ndelta_vae_text.num_layers = 1')
  try:
    model = delta_vae_text.DeltaVaeText(_Problem())
    assert model.latent_dim == 3
  finally:
    gin.clear_config()


@pytest.mark.parametrize('gin_file', ['text_tiny.gin', 'lm1b.gin'])
def test_gin_files_parse(gin_file):
  import os
  import gin
  from t2t_delta import registry
  registry.list_models()
  path = os.path.join(os.path.dirname(__file__), '..', '..', 'gin', gin_file)
  from t2t_delta.runtime import gin_config
  def value(binding):   # a bound value, macros resolved
    bound = gin.query_parameter(binding)
    return (bound.scoped_configurable_fn()
            if isinstance(bound, gin.config.ConfigurableReference) else bound)

  try:
    gin_config.parse_gin([path])
    assert value('delta_vae_text.latent_dim') == 2
    assert value('ar_text.num_layers') == value('delta_vae_text.num_layers')
    if gin_file == 'text_tiny.gin':
      model = delta_vae_text.DeltaVaeText(_Problem())
      assert model.latent_dim == 2 and np.isfinite(model.committed_rate())
      assert model.encoder_pooling == 'future_mean' and model.token_dropout == 0.3
    else:
      # The paper's LM1B model: z_t from position t, every decoder input seen.
      assert value('delta_vae_text.hidden_size') == 512
      model = delta_vae_text.DeltaVaeText(_Problem(), hidden_size=16, filter_size=32,
                                          num_heads=2, aux_hidden=8)
      assert model.encoder_pooling == 'none' and model.token_dropout == 0.0
  finally:
    gin.clear_config()


def test_posterior_scale_is_softplus_by_default():
  """The text model's scale function (the image model's is exp); a zero head bias
  and kernel give softplus(0) + 1e-4 at every step."""
  model = _model()
  assert model.latent.posterior_scale == 'softplus'
  for variable in model.posterior_head.trainable_variables:
    variable.assign(tf.zeros_like(variable))
  features = _features([T, 3])
  _, scale = model._posterior_params(features['targets'], features['mask'], False,
                                     SEED)
  np.testing.assert_allclose(scale, np.log(2.0) + 1e-4, rtol=1e-6)
  with pytest.raises(UserError, match="posterior_scale='tanh'.*valid: exp, softplus"):
    _model(posterior_scale='tanh')
