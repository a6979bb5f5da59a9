"""Learning-rate schedules."""

import pytest

from t2t_delta.train import schedules


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
