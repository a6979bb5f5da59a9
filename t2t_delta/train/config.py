"""From flags (or a run directory) to a configured problem, model class and trainer.

Shared by the trainer and the decoder so that both resolve gin files, validate input
and rebuild a run in exactly the same way. Everything that can fail because of user
input fails here, with a one-line `UserError`, before anything is written.
"""

import os

import gin

import t2t_delta
from t2t_delta import registry
from t2t_delta.errors import UserError
from t2t_delta.train import run_dir, strategies

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(t2t_delta.__file__)))


def resolve_gin_file(path):
  """A gin file path as given, else relative to the source tree (`gin/...`)."""
  for candidate in (path, os.path.join(SOURCE_ROOT, path),
                    os.path.join(SOURCE_ROOT, 'gin', path)):
    if os.path.isfile(candidate):
      return candidate
  raise UserError(f'gin file {path!r} not found (also looked in {SOURCE_ROOT}/gin); '
                  'check the --gin_file path.')


def _one_line(error):
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  text = lines[0] if lines else type(error).__name__
  for line in lines[1:]:
    if line.startswith('In file') or line.startswith('In bindings'):
      text += f' ({line})'
      break
  return text


def parse_gin(gin_files=(), gin_params=(), gin_texts=()):
  """Parse gin files, config strings and bindings; gin's errors become UserErrors."""
  gin.clear_config()
  files = [resolve_gin_file(f) for f in gin_files]
  try:
    for text in gin_texts:
      gin.parse_config(text)
    gin.parse_config_files_and_bindings(files, list(gin_params))
  except (ValueError, KeyError, SyntaxError, IOError, TypeError) as e:
    if isinstance(e, UserError):
      raise
    raise UserError(f'bad gin configuration: {_one_line(e)}') from None


class RunSetup:
  """Names, gin configuration, problem, model class and strategy of one run."""

  def __init__(self, problem_name, model_name, output_dir, data_dir=None, seed=0,
               strategy='auto', tpu=None, cpu_devices=1):
    self.problem_name, self.model_name = problem_name, model_name
    self.output_dir, self.data_dir, self.seed = output_dir, data_dir, seed
    self.problem_cls = registry.problem(problem_name)
    self.model_cls = registry.model(model_name)
    self.strategy_name, self.tpu, self.cpu_devices = strategy, tpu, cpu_devices
    self._problem = None
    self._strategy = None
    self._trainer = None

  # ---- construction -------------------------------------------------------------------
  @classmethod
  def from_flags(cls, flags):
    missing = [name for name in ('problem', 'model', 'output_dir')
               if not getattr(flags, name)]
    if missing:
      raise UserError('missing ' + ', '.join(f'--{m}' for m in missing) +
                      '; see t2t-delta-trainer --help and --registry_help.')
    setup = cls(flags.problem, flags.model, flags.output_dir, flags.data_dir, flags.seed,
                flags.strategy, flags.tpu, flags.cpu_devices)
    # Refuse a foreign run directory before anything else touches it.
    run_dir.check_compatible(flags.output_dir, flags.problem, flags.model)
    overrides = []
    if flags.train_steps is not None:
      overrides.append(f'train.steps = {flags.train_steps}')
    if flags.eval_every is not None:
      overrides.append(f'train.eval_every = {flags.eval_every}')
    parse_gin(flags.gin_file, list(flags.gin_param) + overrides)
    setup.gin_files, setup.gin_params = list(flags.gin_file), list(flags.gin_param)
    setup.build()
    return setup

  @classmethod
  def from_run_dir(cls, output_dir, gin_params=(), strategy='cpu'):
    """Rebuild a finished or running run from its run.json and config.gin."""
    info = run_dir.read_run_info(output_dir) if os.path.isdir(output_dir) else None
    if info is None:
      raise UserError(f'{output_dir!r} is not a t2t_delta run directory (no '
                      f'{run_dir.RUN_FILE}); pass the --output_dir of a training run.')
    config_path = os.path.join(output_dir, run_dir.CONFIG_FILE)
    if not os.path.exists(config_path):
      raise UserError(f'{output_dir} has no {run_dir.CONFIG_FILE} yet (no training step '
                      'finished); train first.')
    setup = cls(info['problem'], info['model'], output_dir, info.get('data_dir'),
                info.get('seed', 0), strategy)
    with open(config_path) as f:
      parse_gin(gin_texts=[f.read()], gin_params=gin_params)
    setup.build()
    return setup

  def build(self):
    """Construct and validate the problem (raises UserError on unusable data)."""
    self._problem = self.problem_cls(data_dir=self.data_dir)
    self._problem.validate()

  # ---- accessors ----------------------------------------------------------------------
  @property
  def problem(self):
    return self._problem

  @property
  def strategy(self):
    if self._strategy is None:
      if self.cpu_devices > 1:
        strategies.split_cpu_devices(self.cpu_devices)
      self._strategy = strategies.make_strategy(self.strategy_name, self.tpu)
    return self._strategy

  def train_config(self):
    from t2t_delta.train.trainer import TrainConfig  # pylint: disable=g-import-not-at-top
    return TrainConfig()

  def trainer(self):
    """The Trainer (model built under the strategy); writes run.json once built."""
    from t2t_delta.train.trainer import Trainer  # pylint: disable=g-import-not-at-top
    if self._trainer is None:
      self._trainer = Trainer(self.problem, self.model_cls, self.output_dir,
                              self.strategy, seed=self.seed, config=self.train_config())
      run_dir.write_run_info(self.output_dir, {
          'problem': self.problem_name, 'model': self.model_name,
          'data_dir': self.data_dir, 'seed': self.seed,
          'gin_files': getattr(self, 'gin_files', []),
          'gin_params': getattr(self, 'gin_params', [])})
    return self._trainer
