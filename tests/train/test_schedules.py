"""Learning-rate schedules."""

import gin
import pytest

from t2t_delta import registry
from t2t_delta.runtime import gin_config
from t2t_delta.train import schedules, strategies
from t2t_delta.train import trainer as trainer_lib


def test_delta_vae_schedule_warms_up_then_decays():
  lr = lambda s: float(schedules.delta_vae_schedule(s, scale=0.36, warmup_steps=8000,
                                                    hidden_size=256))
  # Linear warm-up branch: c * h^-0.5 * step * w^-1.5.
  assert lr(100) == pytest.approx(0.36 / 16 * 100 * 8000 ** -1.5, rel=1e-5)
  # Decay branch after the crossover step w^(1.5/1.35).
  crossover = 8000 ** (1.5 / 1.35)
  late = 4 * crossover
  assert lr(late) == pytest.approx(0.36 / 16 * late ** -0.35, rel=1e-4)
  peak = max(lr(s) for s in range(1000, 60000, 500))
  assert lr(1000) < peak and lr(200000) < peak


def test_constant_and_warmup_schedules():
  assert float(schedules.constant(5, value=1e-4)) == pytest.approx(1e-4)
  assert float(schedules.linear_warmup_constant(0, value=1.0, warmup_steps=10)) == (
      pytest.approx(0.1))
  assert float(schedules.linear_warmup_constant(50, value=1.0, warmup_steps=10)) == 1.0


def test_linear_warmup_cosine_decay():
  lr = lambda s, **kw: float(schedules.linear_warmup_cosine_decay(
      s, value=2.0, warmup_steps=10, decay_steps=110, **kw))
  assert lr(0) == pytest.approx(0.2)                     # warm-up: (step + 1) / 10
  assert lr(9) == pytest.approx(2.0)                     # peak at the end of warm-up
  assert lr(59) == pytest.approx(1.0)                    # half way through the cosine
  assert lr(109) == pytest.approx(0.0, abs=1e-6)         # zero at decay_steps
  assert lr(500) == pytest.approx(0.0, abs=1e-6)         # and after it
  assert lr(500, final_fraction=0.1) == pytest.approx(0.2)
  decay = [lr(s) for s in range(9, 110)]
  assert all(a >= b for a, b in zip(decay, decay[1:]))   # monotone after warm-up


def test_cosine_decays_over_the_runs_length_unless_decay_steps_is_bound():
  lr = lambda s, **kw: float(schedules.linear_warmup_cosine_decay(
      s, value=2.0, warmup_steps=10, **kw))
  assert lr(59, total_steps=110) == pytest.approx(1.0)   # half way through the run
  assert lr(109, total_steps=110) == pytest.approx(0.0, abs=1e-6)
  assert lr(109, total_steps=210) == pytest.approx(1.0)  # a longer run: half way
  # An explicit decay_steps wins over the run's length.
  assert lr(109, total_steps=210, decay_steps=110) == pytest.approx(0.0, abs=1e-6)
  with pytest.raises(ValueError, match='decay_steps or the run'):
    lr(5)


@pytest.mark.parametrize('schedule', [schedules.constant, schedules.delta_vae_schedule,
                                      schedules.linear_warmup_constant])
def test_schedules_that_ignore_the_runs_length_accept_it(schedule):
  assert float(schedule(50, total_steps=10)) == pytest.approx(float(schedule(50)))


def test_total_steps_cannot_be_bound_in_gin():
  gin.clear_config()
  with pytest.raises(ValueError, match='total_steps'):
    gin.parse_config('linear_warmup_cosine_decay.total_steps = 5')
  gin.clear_config()


@pytest.mark.parametrize('steps', [40, 80])
def test_trainer_passes_train_steps_to_the_schedule(tmp_path, steps):
  gin_config.parse_gin(gin_params=[
      'train.batch_size = 8', 'vae_conv.hidden = 8', 'vae_conv.latent_dim = 4',
      f'train.steps = {steps}', 'train.learning_rate = @linear_warmup_cosine_decay',
      'linear_warmup_cosine_decay.value = 1.0',
      'linear_warmup_cosine_decay.warmup_steps = 2'])
  try:
    trainer = trainer_lib.Trainer(registry.problem('tiny_images')(),
                                  registry.model('vae_conv'), str(tmp_path / 'run'),
                                  strategies.make_strategy('cpu'), seed=0,
                                  config=trainer_lib.TrainConfig())
    lr = trainer.optimizer.learning_rate_fn
    assert float(lr(steps)) == pytest.approx(0.0, abs=1e-6)    # the run's last step
    assert float(lr(steps // 2 + 1)) == pytest.approx(0.5, abs=0.05)
  finally:
    gin.clear_config()
