"""The trainer's lines on stdout: the start-up line and the progress lines.

    tiny_images / vae_conv: 12,872 parameters, 1 replica (cpu), run runs/demo; fresh start, 500 steps.
    step 50/500  elapsed 0:12  ETA 1:48  4.17 steps/s  -ELBO 5.123456 bits/dim  rate 0.006612  distortion 5.116844  loss 5.123456  lr 0.001

Progress lines report the training terms averaged over the steps since the previous
line, in the problem's unit (bits/dim or nats/token), like the evaluation lines. The
ETA extrapolates the training speed of this invocation, measured from the end of its
first step (which includes tracing) and excluding time spent evaluating.
"""

import time

from t2t_delta.train import metrics


def duration(seconds):
  """'1:05' (m:ss) or '2:03:09' (h:mm:ss) for a number of seconds."""
  seconds = int(round(max(seconds, 0.0)))
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  return f'{hours}:{minutes:02d}:{secs:02d}' if hours else f'{minutes}:{secs:02d}'


def startup_line(problem_name, model_name, num_parameters, replicas, device, output_dir,
                 state):
  """One line: what runs, how big, on how many replicas, where, and `state` (e.g.
  'fresh start, 500 steps' or 'resuming from RUN/checkpoints/ckpt-250 at step 250')."""
  plural = 's' if replicas != 1 else ''
  return (f'{problem_name} / {model_name}: {num_parameters:,} parameters, {replicas} '
          f'replica{plural} ({device}), run {output_dir}; {state}.')


class Progress:
  """Elapsed time, steps/s and ETA of one training invocation, and its log lines.

  Args:
    problem: the run's problem (units of the terms).
    start_step: the step the invocation starts from.
    total_steps: train.steps.
    clock: time source (seconds), for tests.
  """

  def __init__(self, problem, start_step, total_steps, clock=time.time):
    self.problem, self.total_steps, self.clock = problem, int(total_steps), clock
    self.started = clock()
    self._sums = {}
    self._window_start = (self.started, int(start_step))
    self._speed_start = None     # (time, step) after the first step (tracing excluded)
    self._paused = 0.0           # seconds spent outside training since _speed_start

  def add(self, sums, step):
    """Accumulate the per-step sums (nats) of steps up to `step` into the window."""
    metrics.add(self._sums, sums)
    if self._speed_start is None:
      self._speed_start = (self.clock(), int(step))

  def pause(self, seconds):
    """Exclude `seconds` (evaluation, summaries) from the training speed."""
    if self._speed_start is not None:
      self._paused += seconds

  def eta_seconds(self, step):
    """Seconds to `total_steps` at the speed since the first step (None if unknown)."""
    if self._speed_start is None:
      return None
    start_time, start_step = self._speed_start
    busy = self.clock() - start_time - self._paused
    done = step - start_step
    if done <= 0 or busy <= 0:
      return None
    return (self.total_steps - step) * busy / done

  def line(self, step, learning_rate):
    """(line, train record) for the window ending at `step`; starts a new window."""
    now = self.clock()
    window_time, window_step = self._window_start
    rate = (step - window_step) / max(now - window_time, 1e-9)
    self._window_start = (now, step)
    record = metrics.summarize(self.problem, self._sums, step, 'train')   # has 'loss'
    self._sums = {}
    eta = self.eta_seconds(step)
    return (f'step {step}/{self.total_steps}  elapsed {duration(now - self.started)}  '
            f'ETA {duration(eta) if eta is not None else "?"}  {rate:.2f} steps/s  '
            f'{metrics.format_terms(record)}  loss {record["loss"]:.6f}  '
            f'lr {learning_rate:.3g}'), record
