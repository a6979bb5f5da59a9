"""Start-up checks: hyper-parameter bounds by name, errors from traced code, memory."""

import gin
import pytest
import tensorflow as tf

from t2t_delta import registry
from t2t_delta.errors import UserError
from t2t_delta.runtime import gin_config
from t2t_delta.train import preflight


def _bindings(*params):
  gin_config.parse_gin(gin_params=list(params))


@pytest.fixture(autouse=True)
def _clear_gin():
  yield
  gin.clear_config()


def test_defaults_of_every_registered_model_pass_the_bounds():
  _bindings()
  for name in registry.list_models():
    preflight.check_bindings(registry.model(name))


@pytest.mark.parametrize('binding,expected', [
    ('vae_conv.latent_dim = 0', 'vae_conv.latent_dim=0 is invalid'),
    ('vlae_image.prior_hidden = (128, 0)', 'vlae_image.prior_hidden=(128, 0) is invalid'),
    ('delta_vae_text.alpha_hi = 1.0', 'delta_vae_text.alpha_hi=1.0 is invalid'),
    ('delta_vae_image.encoder_dropout_rate = -0.1', 'encoder_dropout_rate=-0.1 is invalid'),
    ('delta_vae_image.num_decoder_attention = -1', 'num_decoder_attention=-1 is invalid'),
])
def test_out_of_bounds_model_binding_names_itself(binding, expected):
  _bindings(binding)
  model = registry.model(binding.split('.')[0])
  with pytest.raises(UserError, match=expected.replace('(', r'\(').replace(')', r'\)')):
    preflight.check_bindings(model)


def test_objective_and_schedule_bindings_are_checked_under_their_gin_names():
  from t2t_delta import objectives  # pylint: disable=g-import-not-at-top
  from t2t_delta.train import schedules  # pylint: disable=g-import-not-at-top
  _bindings('free_bits.lambda_nats = -0.5', 'linear_warmup_constant.warmup_steps = -3')
  with pytest.raises(UserError, match=r'free_bits\.lambda_nats=-0\.5 is invalid'):
    preflight.check_bindings(objectives.free_bits)
  with pytest.raises(UserError, match=r'linear_warmup_constant\.warmup_steps=-3'):
    preflight.check_bindings(schedules.linear_warmup_constant)
  assert preflight.gin_name(schedules.constant) == 'constant_learning_rate'


def test_our_error_inside_an_autograph_trace_comes_back_as_its_message():
  @tf.function
  def traced(x):
    if x.shape[0] == 3:
      raise UserError('vae_conv.hidden=3 cannot run here; pick another.')
    return x

  with pytest.raises(Exception) as info:
    traced(tf.zeros([3]))
  assert str(info.value).lstrip().startswith('in user code:')
  assert (preflight.user_error_from_trace(info.value) ==
          'vae_conv.hidden=3 cannot run here; pick another.')
  assert preflight.user_error_from_trace(ValueError('plain')) is None


def test_runtime_error_summary_is_the_failed_check():
  @tf.function
  def check(x):
    tf.debugging.assert_less(x, 0.0, message='x must be negative')
    return x

  with pytest.raises(tf.errors.InvalidArgumentError) as info:
    check(tf.constant(1.0))
  summary = preflight.runtime_error_summary(info.value)
  assert summary.startswith('assertion failed: [x must be negative]')
  assert '{{node' not in summary


def _graph_with(sizes):
  """A graph whose op outputs are float32 tensors with these element counts."""
  graph = tf.Graph()
  with graph.as_default():
    for n in sizes:
      tf.zeros([n], tf.float32)
  return graph


def test_memory_estimate_scales_with_the_batch_and_counts_parameters():
  graph = _graph_with([1000, 3000])   # 16 kB in all, largest 12 kB
  total, per_example, parameters = preflight.memory_estimate(graph, 10, 8, 2)
  # Per example max(25% of 16 kB, 12 kB); 16 bytes per parameter; per replica.
  assert per_example == 12_000 and parameters == 160
  assert total == 2 * (8 * 12_000 + 160)
  need = preflight.check_memory(graph, 10, 16, 2, 'm', available=10**9)
  assert need == total
  with pytest.raises(UserError) as info:
    preflight.check_memory(graph, 10, 16, 2, 'm on 8x8x3 images', available=100_000)
  message = str(info.value)
  assert message.startswith('train.batch_size=16 will not fit in memory: m on 8x8x3 '
                            'images needs an estimated 0.2 MB')
  # (100000 / 2 - 160) // 12000 = 4 examples per replica: at most 8 in all.
  assert 'lower train.batch_size to at most 8' in message
  assert preflight.check_memory(graph, 10, 8, 2, 'm', available=100_000) <= 100_000
