"""The problem and model of a run: for the trainer, or rebuilt from a run directory.

Shared by the trainer, the evaluator and the decoder so that all of them resolve gin
files, validate input and rebuild a run in exactly the same way. Everything that can
fail because of user input fails here, with a one-line `UserError`, before anything
is written.

    setup = RunSetup.for_training(problem, model, output_dir, ...)   # t2t-delta-trainer
    setup, model, checkpoint = load_run(output_dir)                  # eval, decoder
"""

import os

from t2t_delta import errors
from t2t_delta import registry
from t2t_delta.errors import UserError
from t2t_delta.runtime import checkpoints, run_dir
from t2t_delta.runtime.gin_config import experiment, parse_gin


class RunSetup:
  """Names, gin files and bindings, problem and model class of one run.

  Attributes:
    problem_name, model_name: registered names.
    output_dir, data_dir, seed: as given to the trainer.
    gin_files, gin_params: the trainer's --gin_file and --gin_param (run.json).
    problem_cls, model_cls: the registered classes; `problem` once `build` ran.
  """

  def __init__(self, problem_name, model_name, output_dir, data_dir=None, seed=0,
               gin_files=(), gin_params=()):
    self.problem_name, self.model_name = problem_name, model_name
    self.output_dir, self.data_dir, self.seed = output_dir, data_dir, seed
    self.gin_files, self.gin_params = list(gin_files), list(gin_params)
    self.problem_cls = registry.problem(problem_name)
    self.model_cls = registry.model(model_name)
    self._problem = None

  # ---- construction -------------------------------------------------------------------
  @classmethod
  def for_training(cls, problem_name, model_name, output_dir, data_dir=None, seed=0,
                   gin_files=(), gin_params=(), overrides=()):
    """A new or resumed run: checks the seed, parses the gin files, the bindings and
    then `overrides` ((binding, source) pairs, e.g. from --train_steps), checks the run
    directory and builds the problem. Writes nothing.

    `problem_name` and `model_name` (the trainer's --problem and --model) may be None
    when the gin files bind `run.problem` and `run.model`; given, they override them.
    """
    if not -2**31 <= seed < 2**31:
      raise UserError(f'--seed={seed} must fit in 32 bits (-2147483648..2147483647).')
    overrides = list(overrides) + [
        (f"run.{kind} = '{name}'", f'--{kind}={name}')
        for kind, name in (('problem', problem_name), ('model', model_name)) if name]
    params = list(gin_params) + [binding for binding, _ in overrides]
    sources = ([f"--gin_param '{p}'" for p in gin_params] +
               [source for _, source in overrides])
    parse_gin(gin_files, params, param_sources=sources)
    problem_name, model_name = experiment()
    missing = [f'--{kind} (or run.{kind} in a gin file)'
               for kind, name in (('problem', problem_name), ('model', model_name))
               if not name]
    if missing:
      raise UserError('missing ' + ' and '.join(missing) + '; see t2t-delta-trainer '
                      '--help and --registry_help.')
    setup = cls(problem_name, model_name, output_dir, data_dir, seed, gin_files,
                gin_params)
    # Refuse a foreign run directory before anything touches it (a busy one was
    # refused before TensorFlow loaded: `train/cli.py`).
    run_dir.check_compatible(output_dir, problem_name, model_name)
    setup.build()
    return setup

  @classmethod
  def from_run_dir(cls, output_dir, gin_params=()):
    """Rebuild a finished or running run from its run.json and config.gin (read-only)."""
    info = run_dir.read_run_info(output_dir) if os.path.isdir(output_dir) else None
    if info is None:
      raise UserError(f'{output_dir!r} is not a t2t_delta run directory (no '
                      f'{run_dir.RUN_FILE}); pass the --output_dir of a training run.')
    config_path = run_dir.config_path(output_dir)
    if not os.path.exists(config_path):
      raise UserError(f'{output_dir} has no {run_dir.CONFIG_FILE} yet (no training step '
                      'finished); train first.')
    setup = cls(info['problem'], info['model'], output_dir, info.get('data_dir'),
                info.get('seed', 0), info.get('gin_files', ()), info.get('gin_params', ()))
    with open(config_path) as f:
      parse_gin(gin_texts=[f.read()], gin_params=gin_params)
    setup.build()
    return setup

  def build(self):
    """Construct and validate the problem (raises UserError on unusable data).

    A ValueError/TypeError from the problem's constructor or validation (typically a
    bad `<problem>.<parameter>` gin binding) becomes a one-line UserError naming it.
    """
    try:
      self._problem = self.problem_cls(data_dir=self.data_dir)
      self._problem.validate()
    except UserError:
      raise
    except (ValueError, TypeError) as e:
      raise UserError(f'cannot build problem {self.problem_name}: {errors.first_line(e)}; '
                      f'check the {self.problem_name}.* gin bindings and '
                      '--data_dir.') from None

  # ---- accessors ----------------------------------------------------------------------
  @property
  def problem(self):
    return self._problem

  def run_info(self):
    """The run.json record of this run (the trainer writes it after its first step)."""
    return {'problem': self.problem_name, 'model': self.model_name,
            'data_dir': self.data_dir, 'seed': self.seed, 'gin_files': self.gin_files,
            'gin_params': self.gin_params, 'data': self.problem.data_info()}


def load_run(output_dir, gin_params=()):
  """(setup, model, checkpoint) of the run in `output_dir`, read-only.

  The model is rebuilt from the run's saved operative config (`config.gin`; gin params
  given here are applied on top of it, e.g. to change a sampling setting) and its
  weights are read from the newest complete checkpoint. Nothing in the run directory
  is written, created or deleted.
  """
  if not output_dir or not os.path.isdir(output_dir):
    raise UserError(f'--output_dir={output_dir!r} does not exist; pass the directory '
                    'of a training run.')
  setup = RunSetup.from_run_dir(output_dir, gin_params)
  latest = checkpoints.require_latest(output_dir)
  model = setup.model_cls(setup.problem)
  checkpoints.read_weights(model, latest)
  return setup, model, latest
