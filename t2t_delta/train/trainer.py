"""The training loop: one code path for CPU, GPUs, many hosts and TPUs.

`Trainer` builds the model and optimizer under the strategy's scope, restores the
latest checkpoint (step, optimizer state; the data position and the random stream are
functions of the step), and runs compiled loops of `steps_per_loop` steps with no host
round-trip inside. Between loops the host prints progress, evaluates, checkpoints and
reacts to SIGTERM/SIGINT.

With several workers (MultiWorkerMirroredStrategy) every worker runs this same loop,
but only the chief (`strategies.is_chief`) writes the run directory: checkpoints,
metrics.jsonl, config.gin, run.json and summaries. The other workers restore from the
chief's checkpoints (the run directory must be on storage every worker can read) and
save theirs to a temporary directory that is deleted after each save, because saving
under the strategy is a collective step all workers must take.

gin (all under `train.`): batch_size, steps, eval_every, learning_rate, objective, ...
see `TrainConfig`.
"""

import contextlib
import dataclasses
import functools
import math
import os
import signal
import sys
import time

import gin
import tensorflow as tf

from t2t_delta import errors
from t2t_delta import objectives as objectives_lib
from t2t_delta.errors import UserError
from t2t_delta.evaluate import information
from t2t_delta.models import base as models_base
from t2t_delta.runtime import checkpoints, files, run_dir, run_lock
from t2t_delta.train import eval_loop, inputs, metrics, preflight, progress
from t2t_delta.train import schedules, strategies, summaries
from t2t_delta.train.optimizer import Adam


class NonFiniteError(RuntimeError):
  """Training produced a non-finite loss or gradient."""


class _Stopped(Exception):
  """SIGTERM/SIGINT arrived during an evaluation (raised between batches)."""

  def __init__(self, signum):
    super().__init__(signum)
    self.signum = signum


STEP_MAX = 2**63 - 1   # the step counter is an int64 variable


@gin.configurable('train')
@dataclasses.dataclass
class TrainConfig:
  """Training hyper-parameters (gin scope `train`).

  Attributes:
    batch_size: examples per *global* step (split over replicas and hosts).
    eval_batch_size: examples per global evaluation batch (default: batch_size).
    steps: total training steps.
    eval_every: evaluate the `eval_split` every this many steps (0: only at the end).
    eval_split / final_splits: split evaluated periodically / splits evaluated at the end.
    learning_rate: schedule (step, total_steps) -> lr, called with total_steps=steps
      (see `train/schedules.py`).
    objective: per-example loss from the model's terms (see `objectives.py`).
    log_every: print a progress line every this many steps.
    steps_per_loop: steps run inside one compiled call (TPUs want > 1).
    checkpoint_every_steps / checkpoint_every_secs: periodic checkpoints (either fires;
      0 disables the step trigger). A checkpoint is also written at the last step and
      on SIGTERM/SIGINT.
    keep_checkpoint_max: checkpoints kept on disk (>= 1).
    jit_compile: compile the forward/backward pass with XLA.
    nonfinite: 'stop' (exit non-zero, keep the last good checkpoint) or 'skip' (skip the
      update and count it in the checkpointed `optimizer.skipped`).
    information_examples: latent models: at every evaluation, the mutual information
      and the decoder's swap gain (`evaluate/information.py`) over this many examples
      of the evaluated split, on the chief (0: off).
    information_negatives: other examples' latents each of them is decoded with.
    fault_hook: optional fn(out, step) -> out applied to the model's output (tests).
  """
  batch_size: int = 32
  eval_batch_size: int = 0
  steps: int = 1000
  eval_every: int = 0
  eval_split: str = 'eval'
  final_splits: tuple = ('eval', 'test')
  learning_rate: object = schedules.constant
  objective: object = objectives_lib.elbo
  log_every: int = 50
  steps_per_loop: int = 1
  checkpoint_every_steps: int = 1000
  checkpoint_every_secs: float = 600.0
  keep_checkpoint_max: int = 3
  jit_compile: bool = False
  nonfinite: str = 'stop'
  information_examples: int = 256
  information_negatives: int = 3
  fault_hook: object = None

  def validate(self):
    """One-line UserError naming the binding for a value the loop cannot use."""
    def check(name, ok, expected):
      value = getattr(self, name)
      if not ok(value):
        raise UserError(f'train.{name}={value!r} is invalid: expected {expected}; fix the '
                        f'train.{name} binding.')

    is_int = lambda v: isinstance(v, int) and not isinstance(v, bool)
    is_num = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    count = lambda v: is_int(v) and 0 <= v <= STEP_MAX
    steps = f'at most {STEP_MAX} (the step counter is int64)'
    check('batch_size', lambda v: is_int(v) and 0 < v <= preflight.INT32_MAX,
          'a positive integer')
    check('eval_batch_size', lambda v: is_int(v) and 0 <= v <= preflight.INT32_MAX,
          'a non-negative integer (0: same as batch_size)')
    check('steps', count, f'a non-negative integer {steps}')
    check('eval_every', count, f'a non-negative integer (0: only at the end) {steps}')
    check('log_every', count, f'a non-negative integer {steps}')
    check('steps_per_loop', lambda v: count(v) and v > 0, f'a positive integer {steps}')
    check('checkpoint_every_steps', count,
          f'a non-negative integer (0: no step trigger) {steps}')
    check('checkpoint_every_secs', lambda v: is_num(v) and 0 < v < math.inf,
          'a positive number of seconds')
    check('keep_checkpoint_max', lambda v: is_int(v) and v > 0, 'a positive integer')
    check('nonfinite', lambda v: v in ('stop', 'skip'), "'stop' or 'skip'")
    check('information_examples', lambda v: is_int(v) and (v == 0 or v >= 2),
          '0 (off) or an integer >= 2')
    check('information_negatives', lambda v: is_int(v) and v >= 1, 'a positive integer')
    check('eval_split', lambda v: isinstance(v, str), "a split name such as 'eval'")
    check('final_splits', lambda v: isinstance(v, (tuple, list)) and all(
        isinstance(x, str) for x in v), "a tuple of split names such as ('eval', 'test')")
    check('jit_compile', lambda v: isinstance(v, bool), 'True or False')
    check('learning_rate', callable, 'a schedule such as @constant_learning_rate')
    check('objective', callable, 'an objective such as @elbo')
    check('fault_hook', lambda v: v is None or callable(v),
          'None or a function such as @inject_nonfinite')

  # ---- what happens after a step -----------------------------------------------------
  def log_at(self, step):
    """Whether a progress line follows `step`."""
    return bool(self.log_every) and (step % self.log_every == 0 or step == self.steps)

  def eval_at(self, step):
    """Whether `eval_split` is evaluated after `step` (the last step evaluates the
    `final_splits` instead)."""
    return bool(self.eval_every) and step % self.eval_every == 0 and step < self.steps

  def checkpoint_at(self, step, seconds_since_save):
    """Whether a checkpoint follows `step`: every `checkpoint_every_steps` steps, once
    `checkpoint_every_secs` passed since the last one, and at the last step."""
    return ((bool(self.checkpoint_every_steps) and step % self.checkpoint_every_steps == 0)
            or seconds_since_save > self.checkpoint_every_secs or step == self.steps)

  def loop_length(self, step):
    """Steps of the compiled loop that starts after `step`: at most `steps_per_loop`,
    ending at the next step that logs, evaluates or checkpoints and at `steps`."""
    return min(self.steps_per_loop, self.steps - step,
               _steps_to_boundary(step, self.log_every, self.eval_every,
                                  self.checkpoint_every_steps))


class _SignalFlag:
  """Records SIGTERM/SIGINT so the loop can checkpoint and exit between steps."""

  def __init__(self):
    self.signum = None

  def __enter__(self):
    self._previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
      try:
        self._previous[sig] = signal.signal(sig, self._handle)
      except ValueError:  # not the main thread
        pass
    return self

  def _handle(self, signum, frame):
    del frame
    self.signum = signum

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def _log(message):
  print(message, flush=True)


class Trainer:
  """Builds everything for a run directory and trains / evaluates it."""

  def __init__(self, problem, model_cls, output_dir, strategy, seed=0, config=None,
               run_info=None):
    self.problem = problem
    self.output_dir = output_dir
    self.strategy = strategy
    self.seed = int(seed)
    self.config = config or TrainConfig()
    self.summary_config = summaries.SummaryConfig()
    self.run_info = run_info or {}
    self.is_chief = strategies.is_chief(strategy)
    c = self.config
    c.validate()
    self.summary_config.validate()
    replicas = strategy.num_replicas_in_sync
    if c.batch_size % replicas:
      raise UserError(f'train.batch_size={c.batch_size} is not divisible by the '
                      f'{replicas} replicas; use a multiple of {replicas}.')
    self.eval_batch_size = c.eval_batch_size or c.batch_size
    if self.eval_batch_size % replicas:
      raise UserError(f'train.eval_batch_size={self.eval_batch_size} is not divisible by '
                      f'the {replicas} replicas.')
    for split in (c.eval_split,) + tuple(c.final_splits):
      if split not in ('train', 'eval', 'test'):
        raise UserError(f"unknown split {split!r} in train.eval_split/final_splits; "
                        "valid: 'train', 'eval', 'test'.")
    model_name = model_cls.registered_name or model_cls.__name__
    self.model_name = model_name
    for configurable in (model_cls, c.objective, c.learning_rate):
      preflight.check_bindings(configurable)
    with strategy.scope():
      try:
        self.model = model_cls(problem)
      except UserError:
        raise
      except (ValueError, TypeError, tf.errors.InvalidArgumentError) as e:
        raise UserError(f'cannot build model {model_name} for problem '
                        f'{problem.registered_name}: {errors.first_line(e)}; check the '
                        f'{model_name}.* gin bindings.') from None
      self.variables = list(self.model.trainable_variables)
      try:
        schedule = functools.partial(c.learning_rate, total_steps=c.steps)
        self.optimizer = Adam(self.variables, schedule)
        _check_learning_rate(self.optimizer.learning_rate_fn, c.steps)
      except UserError:
        raise
      except (ValueError, TypeError, tf.errors.InvalidArgumentError) as e:
        raise UserError(f'bad optimizer or learning-rate setting: {errors.first_line(e)}; '
                        'check the adam.* and train.learning_rate bindings (a schedule '
                        'is called as schedule(step, total_steps=train.steps); see '
                        't2t_delta/train/schedules.py).') from None
    self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer)
    self.saver = checkpoints.Saver(self.checkpoint, output_dir, c.keep_checkpoint_max,
                                   self.optimizer.iterations, self.is_chief)
    self._train_loop = None
    self._eval_step = None
    self._pictures_step = None   # the step whose eval pictures/texts were written
    self._signals = None         # _SignalFlag while training or evaluating

  @classmethod
  def for_run(cls, setup, strategy, write_run_info=True):
    """The Trainer of a `runtime.run_setup.RunSetup` (nothing is written here).

    With `write_run_info`, the trainer writes run.json (chief only) once the first
    training step of the invocation has run, i.e. after every check of the flags, gin
    bindings, data and model has passed and the model has run once.
    """
    return cls(setup.problem, setup.model_cls, setup.output_dir, strategy,
               seed=setup.seed, config=TrainConfig(),
               run_info=setup.run_info() if write_run_info else None)

  def check_runnable(self, memory_check=True):
    """Trace the model on a dummy batch and estimate the memory of a step (no writes).

    Raises UserError for a configuration the model or TensorFlow rejects while
    tracing, for tensors beyond int32 indexing, and (with `memory_check`, on CPU)
    for a batch that will not fit in the available memory.
    """
    c, replicas = self.config, self.strategy.num_replicas_in_sync
    graph = preflight.trace_step(self.model, self.problem, c.objective, self.model_name)
    describe = preflight.describe_inputs(self.problem, self.model_name)
    batch = max(c.batch_size, self.eval_batch_size)
    if memory_check and preflight.on_cpu(self.strategy):
      preflight.check_memory(graph, self.num_parameters, batch, replicas, describe)
    preflight.check_tensor_sizes(graph, batch, replicas, describe)

  @property
  def num_parameters(self):
    return models_base.count_parameters(self.model)

  # ---- state -------------------------------------------------------------------------
  @property
  def step(self):
    return int(self.optimizer.iterations.numpy())

  @property
  def skipped(self):
    """Updates skipped so far because of non-finite values (train.nonfinite='skip')."""
    return int(self.optimizer.skipped.numpy())

  def restore(self):
    """Restore the newest checkpoint that loads; returns its path or None.

    Every worker reads the chief's checkpoints; only the chief repairs the directory
    (see `checkpoints.restore_for_training`). Raises UserError if checkpoints exist but
    none of them loads (e.g. the model's gin bindings changed).
    """
    restored, rewritten = checkpoints.restore_for_training(
        self.checkpoint, self.output_dir, repair=self.is_chief, log=_log)
    if rewritten:
      self.saver.reload()
    return restored

  def startup_line(self, restored, evaluating=False):
    """The first line of a training or evaluation invocation (see `progress`)."""
    if evaluating:
      state = f'evaluating step {self.step}'
    elif restored:
      state = f'resuming from {restored} at step {self.step} of {self.config.steps}'
    else:
      state = f'fresh start, {self.config.steps} steps'
    device = type(self.strategy).__name__.replace('Strategy', '')
    return progress.startup_line(
        self.problem.registered_name, self.model_name, self.num_parameters,
        self.strategy.num_replicas_in_sync, device, self.output_dir, state)

  def save(self):
    """Checkpoint at the current step (every worker must call it); returns its path."""
    return self.saver.save(self.step, self._resume_advice())

  def _summary_writer(self, writers, split):
    """The TensorBoard writer of a split (a no-op writer on non-chief workers)."""
    if split not in writers:
      writers[split] = (tf.summary.create_file_writer(
          run_dir.summary_dir(self.output_dir, split)) if self.is_chief
                        else tf.summary.create_noop_writer())
    return writers[split]

  # ---- compiled functions ------------------------------------------------------------
  def _step_seed(self, step):
    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
    seed = tf.random.experimental.stateless_fold_in(
        tf.constant([self.seed, 0], tf.int32), tf.cast(step, tf.int32))
    return tf.random.experimental.stateless_fold_in(seed, replica)

  def _replica_step(self, features):
    c = self.config
    step = self.optimizer.iterations + 1
    seed = self._step_seed(step)

    def forward_backward(features, seed, step):
      with tf.GradientTape() as tape:
        out = self.model(features, training=True, seed=seed)
        if c.fault_hook is not None:
          out = c.fault_hook(out, step)
        per_example = c.objective(out, step)
        loss = tf.reduce_sum(per_example) / float(c.batch_size)
      grads = tape.gradient(loss, self.variables)
      grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
               for g, v in zip(grads, self.variables)]
      return out, per_example, grads

    if c.jit_compile:
      forward_backward = tf.function(forward_backward, jit_compile=True)
    out, per_example, grads = forward_backward(features, seed, step)
    sums = metrics.batch_sums(self.problem, features, out)
    sums['loss'] = tf.reduce_sum(per_example)
    finite_terms = {k: tf.reduce_all(tf.math.is_finite(sums[k]))
                    for k in ('distortion', 'rate', 'loss')}
    finite_grads = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
    finite = tf.logical_and(tf.reduce_all(list(finite_terms.values())), finite_grads)
    self.optimizer.apply_gradients(grads, self.variables, apply=finite)
    flags = {f'nonfinite_{k}': 1.0 - tf.cast(v, tf.float32)
             for k, v in finite_terms.items()}
    flags['nonfinite_grads'] = 1.0 - tf.cast(finite_grads, tf.float32)
    return sums, flags

  def _build_train_loop(self):
    strategy, c = self.strategy, self.config
    stop_on_nonfinite = c.nonfinite == 'stop'

    @tf.function
    def train_loop(iterator, num_steps):
      """Runs `num_steps` steps; returns the sums over them and the last step's flags."""
      sums, flags = self._reduce(*strategy.run(self._replica_step, (next(iterator),)))
      for _ in tf.range(num_steps - 1):
        if stop_on_nonfinite and tf.reduce_max(list(flags.values())) > 0.0:
          break
        step_sums, flags = self._reduce(*strategy.run(self._replica_step,
                                                      (next(iterator),)))
        sums = {k: sums[k] + step_sums[k] for k in sums}
      return sums, flags

    return train_loop

  def _reduce(self, sums, flags):
    reduce = lambda op, x: self.strategy.reduce(op, x, axis=None)
    sums = {k: reduce(tf.distribute.ReduceOp.SUM, v) for k, v in sums.items()}
    flags = {k: reduce(tf.distribute.ReduceOp.SUM, v) for k, v in flags.items()}
    return sums, flags

  def _build_eval_step(self):
    @tf.function
    def eval_step(features):
      sums, groups = self.strategy.run(
          lambda f: eval_loop.batch_terms(self.model, self.problem, f), (features,))
      reduce = lambda v: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
      return ({k: reduce(v) for k, v in sums.items()},
              {k: reduce(v) for k, v in groups.items()})

    return eval_step

  # ---- public API --------------------------------------------------------------------
  def evaluate(self, split):
    """Whole-split metrics record (also appended to metrics.jsonl by the caller)."""
    return self._evaluate(split)[0]

  def _evaluate(self, split):
    """(record, KL per latent dimension [G] in nats per example, or None)."""
    if self._eval_step is None:
      self._eval_step = self._build_eval_step()
    dataset = self.strategy.distribute_datasets_from_function(
        lambda ctx: inputs.eval_dataset(self.problem, split, self.eval_batch_size, ctx))
    totals, per_group = eval_loop.split_totals(self._eval_step, dataset, self.problem,
                                               split, before_batch=self._check_signal)
    record = metrics.split_record(self.problem, totals, self.step, split,
                                  self.model.committed_rate())
    return record, per_group

  def _check_signal(self):
    if self._signals is not None and self._signals.signum is not None:
      raise _Stopped(self._signals.signum)

  def _resume_advice(self):
    latest = self.saver.latest
    return ('free disk space and rerun the same command (it resumes from '
            f'{latest}).' if latest else 'free disk space and rerun the same command.')

  def _record_eval(self, split, writer_cache, final=False):
    record, kl_per_dim = self._evaluate(split)
    c = self.config
    if self.model.has_latents and c.information_examples and self.is_chief:
      self._check_signal()
      record.update(information.quick_information(
          self.model, self.problem, split, self.eval_batch_size,
          max_examples=c.information_examples, num_negatives=c.information_negatives,
          seed=self.seed))
    if self.is_chief:
      path = run_dir.metrics_path(self.output_dir)
      with errors.writing(path, self._resume_advice()):
        files.append_jsonl(path, record)
    _log(metrics.format_record(record))
    step = record['step']
    with self._summary_writer(writer_cache, split).as_default(step=step):
      for key, value in record.items():
        if isinstance(value, float):
          tf.summary.scalar(key, value)
      if self.is_chief:
        pictures = (self._pictures_step != step and self._pictures_supported() and
                    self.summary_config.pictures_due(step, final))
        if pictures:
          self._pictures_step = step
        summaries.write_eval(self.summary_config, self.model, self.problem, split, step,
                             kl_per_dim, self.seed, pictures=pictures)
    self._check_signal()
    return record

  def _pictures_supported(self):
    """Samples are decoded on the host, outside the strategy: not from TPU variables."""
    return not isinstance(self.strategy, tf.distribute.TPUStrategy)

  def train(self, evaluate=True):
    """Train to `config.steps` (resuming), evaluating and checkpointing on the way.

    Returns the list of final evaluation records. Raises NonFiniteError on a non-finite
    loss or gradient (with nonfinite='stop'; no checkpoint is written after the bad
    step). On SIGTERM/SIGINT, saves a checkpoint at the step reached and raises
    SystemExit(128 + signal number), i.e. 143 for SIGTERM and 130 for SIGINT.

    Order of work at a step boundary: evaluate (appends to metrics.jsonl), then
    checkpoint. A hard kill in between therefore repeats the evaluation on resume (a
    duplicate record with the same values) rather than losing it.
    """
    with self._interruptible() as (flag, lock):
      return _Invocation(self, evaluate, flag, lock).run()

  @contextlib.contextmanager
  def _interruptible(self):
    """(signal flag, lock): SIGTERM/SIGINT recorded (`_check_signal` raises at the next
    batch boundary) and the run directory's lock held (chief only; other workers write
    nothing there, lock None)."""
    with _SignalFlag() as flag:
      lock = run_lock.RunLock(self.output_dir).acquire() if self.is_chief else None
      self._signals = flag
      try:
        yield flag, lock
      finally:
        self._signals = None
        if lock is not None:
          lock.release()

  def _first_step_error(self, error):
    """A one-line UserError for an error of the first compiled step, or None."""
    where = (f'the first training step of {self.model_name} on '
             f'{self.problem.registered_name} failed')
    original = preflight.user_error_from_trace(error)
    if original is not None:
      return UserError(f'{where}: {original}; check the {self.model_name}.* and train.* '
                       'gin bindings.')
    if isinstance(error, UserError):
      return error
    if isinstance(error, tf.errors.ResourceExhaustedError):
      return UserError(f'{where}: out of memory ({preflight.runtime_error_summary(error)}); '
                       'lower train.batch_size or use smaller inputs or a smaller model.')
    if isinstance(error, tf.errors.OpError):
      return UserError(f'{where}: {preflight.runtime_error_summary(error)}; check the '
                       f'{self.model_name}.* and train.* gin bindings.')
    if isinstance(error, (ValueError, TypeError)):
      return UserError(f'{where}: {errors.first_line(error)}; check the '
                       f'{self.model_name}.* and train.* gin bindings.')
    return None

  def _write_run_files(self):
    """run.json (if given) and config.gin, once the first step of an invocation ran."""
    advice = self._resume_advice()
    if self.run_info:
      with errors.writing(os.path.join(self.output_dir, run_dir.RUN_FILE), advice):
        run_dir.write_run_info(self.output_dir, self.run_info)
    path = run_dir.config_path(self.output_dir)
    with errors.writing(path, advice):
      files.atomic_write(path, gin.operative_config_str())

  def _repair_metrics(self):
    """Drop a record of metrics.jsonl that a killed trainer cut short (chief only)."""
    path = run_dir.metrics_path(self.output_dir)
    if self.is_chief and files.repair_jsonl(path):
      _log(f'warning: removed a partial last record from {path} (the previous run was '
           'killed while writing it).')

  def evaluate_splits(self, splits):
    """Evaluate the latest checkpoint on `splits` (SIGTERM/SIGINT: exit 128 + N)."""
    with self._interruptible():
      if not self.restore():
        raise UserError(f'no checkpoint in {run_dir.checkpoint_dir(self.output_dir)}; '
                        'train first (same --output_dir) or point --output_dir at a run.')
      _log(self.startup_line(None, evaluating=True))
      writers = {}
      try:
        return [self._record_eval(split, writers, final=True) for split in splits]
      except _Stopped as e:
        _log(f'{signal.Signals(e.signum).name} received: stopped evaluating step '
             f'{self.step}; rerun the same command to evaluate it again.')
        raise SystemExit(128 + e.signum) from None
      finally:
        for writer in writers.values():
          writer.flush()


class _Invocation:
  """One call of `Trainer.train`: restore, train to `train.steps`, evaluate the final
  splits. Holds what lives for the call: summary writers, progress, the time of the
  last checkpoint, and whether the run files were written."""

  def __init__(self, trainer, evaluate, flag, lock):
    self.trainer, self.config = trainer, trainer.config
    self.evaluate, self.flag, self.lock = evaluate, flag, lock
    self.writers = {}
    self.files_written = False   # run.json and config.gin: once, after the first step

  # pylint: disable=protected-access  (the trainer's own helpers)

  def run(self):
    """The final evaluation records (see `Trainer.train`)."""
    t = self.trainer
    t._repair_metrics()
    restored = t.restore()
    _log(t.startup_line(restored))
    self.progress = progress.Progress(t.problem, t.step, self.config.steps)
    self.skipped_at_start = self.skipped_before = t.skipped
    self.last_save_time = time.time()
    self._train_to_the_end()
    if t.saver.latest_step != t.step:
      t.save()
    self._warn_skipped_total()
    records = self._final_evaluations() if self.evaluate else []
    self._stop_if_signalled(t.step, save=False)
    self._flush()
    return records

  # ---- the loop ----------------------------------------------------------------------
  def _train_to_the_end(self):
    """Compiled loops until `train.steps`, with the work of each step boundary. The
    training pipeline (and its prefetch threads) is released when this returns, before
    the final evaluation."""
    t, c = self.trainer, self.config
    if t._train_loop is None:
      t._train_loop = t._build_train_loop()
    start = t.step
    dataset = t.strategy.distribute_datasets_from_function(
        lambda ctx: inputs.train_dataset(t.problem, c.batch_size, t.seed, start, ctx))
    iterator = iter(dataset)
    while t.step < c.steps:
      num_steps = c.loop_length(t.step)
      sums, flags = self._run_loop(iterator, num_steps)
      self._after_loop(num_steps, sums, flags)

  def _run_loop(self, iterator, num_steps):
    """(sums in nats, non-finite flags) of `num_steps` compiled steps. An error of the
    invocation's first loop becomes a UserError and leaves the directory as it was."""
    t = self.trainer
    try:
      sums, flags = t._train_loop(iterator, tf.constant(num_steps))
    except Exception as e:  # pylint: disable=broad-except
      error = None if self.files_written else t._first_step_error(e)
      if error is None:
        raise
      if self.lock is not None:
        self.lock.release(remove_dir=True)
      raise error from None
    return metrics.to_numpy(sums), {k: float(v) for k, v in flags.items()}

  def _after_loop(self, num_steps, sums, flags):
    """The work of the step boundary after a loop of `num_steps` steps."""
    t, c = self.trainer, self.config
    step = t.step
    self.progress.add(sums, step)
    self._check_nonfinite(step, num_steps, flags)
    if t.is_chief and not self.files_written:
      t._write_run_files()
    self.files_written = True
    if c.log_at(step):
      self._log_progress(step)
    if self.evaluate and c.eval_at(step):
      self._periodic_evaluation()
    if c.checkpoint_at(step, time.time() - self.last_save_time):
      t.save()
      self.last_save_time = time.time()
    self._stop_if_signalled(step, save=True)

  # ---- at a step boundary ------------------------------------------------------------
  def _check_nonfinite(self, step, num_steps, flags):
    """NonFiniteError (train.nonfinite='stop'), or a warning for skipped updates in the
    `num_steps` steps up to `step`."""
    t, c = self.trainer, self.config
    if c.nonfinite == 'stop' and max(flags.values()) > 0.0:
      raise NonFiniteError(
          f'non-finite {_describe_nonfinite(flags)} at step {step}; training stopped '
          'and no checkpoint was written after it (latest: '
          f'{t.saver.latest or "none"}). Lower the learning rate, enable gradient '
          "clipping (adam.clip_norm) or set train.nonfinite='skip'.")
    skipped = t.skipped
    if skipped > self.skipped_before:
      where = (f'at step {step}' if num_steps == 1
               else f'in steps {step - num_steps + 1}-{step}')
      what = (f'non-finite {_describe_nonfinite(flags)}' if max(flags.values()) > 0.0
              else 'non-finite values')
      _log(f'warning: {what} {where}; {skipped - self.skipped_before} update(s) skipped '
           f'({skipped} skipped so far).')
      self.skipped_before = skipped

  def _log_progress(self, step):
    """The progress line and the train summaries of the steps since the last line."""
    t = self.trainer
    lr = float(t.optimizer.learning_rate_fn(step))
    line, record = self.progress.line(step, lr)
    _log(line)
    with t._summary_writer(self.writers, 'train').as_default(step=step):
      for key in ('nelbo', 'rate', 'distortion'):
        tf.summary.scalar(key, record[key])
      tf.summary.scalar('learning_rate', lr)

  def _periodic_evaluation(self):
    """`eval_split`, its time excluded from the training speed. A signal during it
    stops it; the step is then checkpointed before the invocation stops."""
    started = time.time()
    try:
      self.trainer._record_eval(self.config.eval_split, self.writers)
    except _Stopped:
      pass
    self.progress.pause(time.time() - started)

  def _stop_if_signalled(self, step, save):
    """After SIGTERM/SIGINT: checkpoint `step` (with `save`) and exit 128 + signal."""
    if self.flag.signum is None:
      return
    t = self.trainer
    name = signal.Signals(self.flag.signum).name
    if save:
      path = t.save() if t.saver.latest_step != step else t.saver.latest
      _log(f'{name} received: saved {path} at step {step}; rerun the same command to '
           'resume.')
    else:
      _log(f'{name} received: stopped at step {step} (checkpoint {t.saver.latest}); '
           'rerun the same command to finish.')
    self._flush()
    raise SystemExit(128 + self.flag.signum)

  # ---- at the end --------------------------------------------------------------------
  def _warn_skipped_total(self):
    t = self.trainer
    skipped = t.skipped
    if skipped:
      _log(f'warning: {skipped} of {t.step} updates were skipped because of non-finite '
           f'values ({skipped - self.skipped_at_start} in this invocation).')

  def _final_evaluations(self):
    """The records of `final_splits`; a signal stops them (see `_stop_if_signalled`)."""
    records = []
    for split in self.config.final_splits:
      try:
        records.append(self.trainer._record_eval(split, self.writers, final=True))
      except _Stopped:
        break
    return records

  def _flush(self):
    for writer in self.writers.values():
      writer.flush()


_TERMS = ('distortion', 'rate', 'loss', 'grads')


def _describe_nonfinite(flags):
  """{'nonfinite_rate': 1.0, 'nonfinite_loss': 1.0, ...} -> 'rate (and loss)'.

  The model terms come first: a non-finite rate or distortion makes the loss and the
  gradients non-finite too, so those are reported as consequences.
  """
  bad = [t for t in _TERMS if flags.get(f'nonfinite_{t}', 0.0) > 0.0]
  if not bad:
    return 'values'
  first, rest = bad[0], bad[1:]
  return first + (f' (and {", ".join(rest)})' if rest else '')


def _check_learning_rate(schedule, steps):
  """UserError unless the schedule gives a finite rate >= 0 everywhere it is sampled,
  > 0 at step 1 (a zero or negative rate trains nothing or diverges) and > 0 before
  90% of `steps` (a schedule that has decayed to 0 long before the run ends, e.g. a
  cosine whose `decay_steps` is below `train.steps`, wastes the steps after it)."""
  early = max(int(0.9 * steps), 1)
  samples = sorted({1, 2, 10, 100, 1000, max(steps // 2, 1), early,
                    max(min(steps, 2**62), 1)})
  for step in samples:
    value = float(schedule(tf.constant(step, tf.int64)))
    if not math.isfinite(value) or value < 0 or (step == 1 and value <= 0):
      raise UserError(f'the learning rate is {value:g} at step {step}; it must be finite '
                      'and > 0: fix train.learning_rate or the bindings of its schedule '
                      '(e.g. constant_learning_rate.value).')
    if value == 0 and step <= early:
      raise UserError(f'the learning rate is 0 at step {step} of train.steps={steps}: '
                      'the schedule ends before training does; set its length to the '
                      'run\'s (e.g. leave linear_warmup_cosine_decay.decay_steps '
                      f'unbound: it then follows train.steps={steps}) or train fewer '
                      'steps.')


def _steps_to_boundary(step, *periods):
  """Steps from `step` to the next multiple of any non-zero period."""
  distances = [p - step % p for p in periods if p]
  return min(distances) if distances else sys.maxsize
