r"""t2t-delta-trainer: train and evaluate a registered model on a registered problem.

    t2t-delta-trainer --problem=image_synthetic --model=delta_vae_image \
        --gin_file=gin/image_tiny.gin --output_dir=runs/tiny

Running the same command again resumes from the latest checkpoint in --output_dir.
Exit status: 0 done, 2 bad input (one line on stderr starting with 'error: ', nothing
written), 3 non-finite loss or gradient (the last good checkpoint is kept), 128+N
stopped by signal N (143 for SIGTERM, 130 for SIGINT) after saving a checkpoint.

Checkpoints are written every `train.checkpoint_every_steps` steps or
`train.checkpoint_every_secs` seconds, whichever comes first (gin, e.g.
--gin_param=train.checkpoint_every_secs=300), at the last step and on SIGTERM/SIGINT;
`train.keep_checkpoint_max` are kept. See docs/errors.md for every error message.
"""

import signal
import sys

from absl import flags

from t2t_delta import cli_common
from t2t_delta.errors import UserError

SCHEDULES = ('train', 'train_and_evaluate', 'evaluate')
STRATEGIES = ('auto', 'cpu', 'mirrored', 'multi_worker', 'tpu')

FLAGS = flags.FLAGS
flags.DEFINE_string('problem', None, 'Registered problem name, e.g. image_synthetic '
                    '(see --registry_help); overrides run.problem of the gin files.')
flags.DEFINE_string('model', None, 'Registered model name, e.g. delta_vae_image '
                    '(see --registry_help); overrides run.model of the gin files.')
flags.DEFINE_multi_string('gin_file', [], 'Gin config file (repeatable; later files '
                          'override earlier ones). Paths are tried as given, then relative '
                          'to the t2t_delta source tree.')
flags.DEFINE_multi_string('gin_param', [], "Gin binding, e.g. 'train.steps=500' "
                          '(repeatable; applied after the gin files).')
flags.DEFINE_string('output_dir', None, 'Run directory: checkpoints, config.gin, '
                    'metrics.jsonl, summaries. Reused to resume.')
flags.DEFINE_string('data_dir', None, 'Data directory for problems that read data '
                    '(image_files, text_lines, TFDS problems).')
flags.DEFINE_integer('train_steps', None, 'Total training steps (overrides train.steps).')
flags.DEFINE_integer('eval_every', None, 'Evaluate every N steps; 0 = only at the end '
                     '(overrides train.eval_every).')
flags.DEFINE_enum('schedule', 'train_and_evaluate', SCHEDULES,
                  'train: train only; train_and_evaluate: train, evaluate periodically '
                  'and on the final splits; evaluate: evaluate the latest checkpoint.')
flags.DEFINE_enum('strategy', 'auto', STRATEGIES,
                  'Distribution strategy: auto (TPU if --tpu, GPUs if visible, else CPU), '
                  'cpu, mirrored (local GPUs or logical CPUs), multi_worker (TF_CONFIG), '
                  'tpu (needs --tpu).')
flags.DEFINE_string('tpu', None, 'TPU name or grpc:// address for --strategy=tpu/auto.')
flags.DEFINE_integer('cpu_devices', 1, 'Split the CPU into this many logical devices '
                     '(lets --strategy=mirrored run several replicas on one CPU).')
flags.DEFINE_integer('seed', 0, 'Random seed: initialisation, data order, dropout and '
                     'sampling are all functions of it (and of the step).')
flags.DEFINE_bool('check_memory', True, 'Before training, estimate the memory of a step '
                  '(from the model traced on one example, scaled to the batch) and refuse '
                  'a run that will not fit in the available memory (CPU only); '
                  '--nocheck_memory skips the check.')
flags.DEFINE_bool('registry_help', False, 'List registered problems and models, then exit.')


def _refuse_busy_run_dir():
  """A second trainer on a run directory in use fails before TensorFlow loads."""
  if FLAGS.output_dir:
    from t2t_delta.runtime import run_lock  # pylint: disable=g-import-not-at-top
    run_lock.check_free(FLAGS.output_dir)


TOOL = cli_common.Tool('t2t-delta-trainer', __doc__, anchor_flag='problem',
                       early_check=_refuse_busy_run_dir)
parse_flags = TOOL.parse_flags


class _Interrupted(BaseException):
  """SIGTERM/SIGINT outside the training loop (start-up, before the first step)."""

  def __init__(self, signum):
    super().__init__(signum)
    self.signum = signum


def _raise_interrupted(signum, frame):
  del frame
  raise _Interrupted(signum)


def _run_setup():
  """The run named by the flags (UserError for a bad flag, binding or directory)."""
  from t2t_delta.runtime import run_setup  # pylint: disable=g-import-not-at-top
  if not FLAGS.output_dir:
    raise UserError('missing --output_dir; see t2t-delta-trainer --help.')
  overrides = []
  if FLAGS.train_steps is not None:
    overrides.append((f'train.steps = {FLAGS.train_steps}',
                      f'--train_steps={FLAGS.train_steps}'))
  if FLAGS.eval_every is not None:
    overrides.append((f'train.eval_every = {FLAGS.eval_every}',
                      f'--eval_every={FLAGS.eval_every}'))
  return run_setup.RunSetup.for_training(
      FLAGS.problem, FLAGS.model, FLAGS.output_dir, FLAGS.data_dir, FLAGS.seed,
      FLAGS.gin_file, FLAGS.gin_param, overrides)


def _strategy():
  # pylint: disable=g-import-not-at-top
  from t2t_delta.train import strategies
  if FLAGS.cpu_devices > 1:
    strategies.split_cpu_devices(FLAGS.cpu_devices)
  return strategies.make_strategy(FLAGS.strategy, FLAGS.tpu)


def run(argv):
  del argv
  # pylint: disable=g-import-not-at-top
  from t2t_delta import registry
  from t2t_delta.runtime import checkpoints, run_dir
  from t2t_delta.train.trainer import Trainer
  if FLAGS.registry_help:
    print(registry.help_string())
    return 0
  setup = _run_setup()
  if FLAGS.schedule == 'evaluate':
    if not checkpoints.has_checkpoint(FLAGS.output_dir):
      raise UserError(f'no checkpoint in {run_dir.checkpoint_dir(FLAGS.output_dir)} to '
                      'evaluate; train first (same --output_dir) or point --output_dir '
                      'at a run.')
    trainer = Trainer.for_run(setup, _strategy(), write_run_info=False)
    trainer.check_runnable(memory_check=FLAGS.check_memory)
    trainer.evaluate_splits(trainer.config.final_splits)
    return 0
  trainer = Trainer.for_run(setup, _strategy())
  trainer.check_runnable(memory_check=FLAGS.check_memory)
  trainer.train(evaluate=FLAGS.schedule == 'train_and_evaluate')
  return 0


def _write_hint():
  return (f'free disk space under --output_dir={FLAGS.output_dir} and rerun the same '
          'command (it resumes from the last checkpoint).')


def _run_with_exit_statuses(argv):
  """`run`, with a non-finite loss ending the process with status 3."""
  from t2t_delta.train.trainer import NonFiniteError  # pylint: disable=g-import-not-at-top
  try:
    return run(argv)
  except NonFiniteError as e:
    cli_common.fail(e, status=3)


_guarded_run = TOOL.guarded(_run_with_exit_statuses, _write_hint)


def _main(argv):
  """`run` behind the tools' error path; a signal before training starts exits
  128 + signum with a line saying nothing was lost."""
  previous = {}
  for sig in (signal.SIGTERM, signal.SIGINT):
    try:
      previous[sig] = signal.signal(sig, _raise_interrupted)
    except ValueError:  # not the main thread
      pass
  try:
    return _guarded_run(argv)
  except (_Interrupted, KeyboardInterrupt) as e:
    signum = getattr(e, 'signum', signal.SIGINT)
    print(f'{signal.Signals(signum).name} received before training started; nothing to '
          'save. Rerun the same command to start or resume.', flush=True)
    sys.exit(128 + signum)
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)

main = TOOL.console_script(_main)


if __name__ == '__main__':
  main()
