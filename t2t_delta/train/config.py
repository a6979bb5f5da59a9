"""From flags (or a run directory) to a configured problem, model class and trainer.

Shared by the trainer and the decoder so that both resolve gin files, validate input
and rebuild a run in exactly the same way. Everything that can fail because of user
input fails here, with a one-line `UserError`, before anything is written.
"""

import contextlib
import difflib
import inspect
import logging
import os
import re
import tokenize

import gin

import t2t_delta
from t2t_delta import registry
from t2t_delta.errors import UserError
from t2t_delta.train import faults  # noqa: F401  (registers @inject_nonfinite)
from t2t_delta.train import run_dir, strategies
from t2t_delta.train import trainer as _trainer  # noqa: F401  (registers train.*, adam.*)

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(t2t_delta.__file__)))


def resolve_gin_file(path):
  """A gin file path as given, else relative to the source tree (`gin/...`)."""
  for candidate in (path, os.path.join(SOURCE_ROOT, path),
                    os.path.join(SOURCE_ROOT, 'gin', path)):
    if os.path.isfile(candidate):
      return candidate
  raise UserError(f'gin file {path!r} not found (also looked in {SOURCE_ROOT}/gin); '
                  'check the --gin_file path.')


def _lines(error):
  return [line.strip() for line in str(error).splitlines() if line.strip()]


def _gin_location(error, source):
  """'--gin_param 'x=1'' or 'gin file F, line N ('text')' from gin's context lines."""
  lines = _lines(error)
  for k, line in enumerate(lines):
    match = re.match(r'In file "(.*)", line (\d+)', line)
    if match:
      text = lines[k + 1] if k + 1 < len(lines) else ''
      where = f'gin file {match.group(1)}, line {match.group(2)}'
      return where + (f" ('{text}')" if text and not text.startswith('^') else '')
  if isinstance(error, SyntaxError) and error.lineno and source.startswith('gin file'):
    return f'{source}, line {error.lineno}'
  if isinstance(error, tokenize.TokenError) and len(error.args) > 1 and source.startswith(
      'gin file'):
    return f'{source}, line {error.args[1][0] - 1} (unclosed bracket or string)'
  return source


def _configurable_names():
  try:
    registry_items = gin.config._REGISTRY.items()  # pylint: disable=protected-access
    return sorted({selector.split('.')[-1] for selector, _ in registry_items} -
                  {'macro', 'singleton'})
  except Exception:  # pylint: disable=broad-except
    return []


def _parameter_names(name):
  try:
    configurable = gin.config._REGISTRY.get_match(name)  # pylint: disable=protected-access
    signature = inspect.signature(configurable.wrapped)
  except Exception:  # pylint: disable=broad-except
    return []
  denied = set(configurable.denylist or ())
  return [p for p in signature.parameters
          if p not in ('self', 'problem', 'out', 'step', 'features') and p not in denied]


def _suggest(word, choices):
  close = difflib.get_close_matches(word, choices, n=1)
  return f"did you mean '{close[0]}'? " if close else ''


def gin_error_message(error, source):
  """A one-line message for an error gin raised while parsing `source`."""
  lines = _lines(error)
  first = lines[0] if lines else type(error).__name__
  where = _gin_location(error, source)
  match = re.match(r"No configurable matching reference '@([^'(]*)(\(\))?'", first)
  if match:
    name = match.group(1)
    return (f"unknown gin configurable '@{name}' in {where}; "
            f"{_suggest(name, _configurable_names())}see docs/errors.md for the "
            'configurables (schedules, objectives, problems, models).')
  match = re.match(r"No configurable matching '([^']*)'", first)
  if match:
    name = match.group(1)
    return (f"unknown gin configurable '{name}' in {where}; "
            f"{_suggest(name, _configurable_names())}bind train.*, adam.*, a registered "
            'problem or model (see --registry_help) or a schedule/objective.')
  match = re.match(r"Configurable '([^']*)' doesn't have a parameter named '([^']*)'",
                   first)
  if match:
    name, param = match.groups()
    valid = _parameter_names(name)
    return (f"gin configurable '{name}' has no parameter '{param}' ({where}); "
            f"{_suggest(param, valid)}valid: {', '.join(valid) or 'see its docstring'}.")
  match = re.match(r"Configurable '([^']*)' has denylisted kwarg '([^']*)'", first)
  if match:
    return (f"gin parameter '{match.group(1)}.{match.group(2)}' cannot be bound "
            f'({where}); the code supplies it.')
  match = re.match(r"No bindings specified for '([^'/]*)/gin.macro'", first)
  if match:
    return (f"gin macro '%{match.group(1)}' is used but never defined ({where}); add "
            f"'{match.group(1)} = <value>' before using it.")
  if isinstance(error, ImportError):
    return f'cannot import in {where}: {first}; check the module name.'
  if isinstance(error, OSError):
    return f'{where}: {first}'
  if isinstance(error, (SyntaxError, tokenize.TokenError)):
    detail = first.split(' (line')[0].rstrip('.')
    if isinstance(error, tokenize.TokenError):
      detail = 'unexpected end of input'
    elif 'Failed to parse token' in ' '.join(lines):
      token = re.search(r"Failed to parse token '([^']*)'", ' '.join(lines)).group(1)
      detail = f"'{token}' is not a value (quote strings: '\"{token}\"')"
    return (f'cannot parse {where}: {detail}; a binding looks like '
            "'train.steps = 500' or \"train.objective = @elbo\".")
  return f'bad gin configuration in {where}: {first}'


@contextlib.contextmanager
def _gin_logging_silenced():
  """gin logs some failures (e.g. a missing include) before raising; keep stderr clean."""
  logging.disable(logging.CRITICAL)
  try:
    yield
  finally:
    logging.disable(logging.NOTSET)


def parse_gin(gin_files=(), gin_params=(), gin_texts=(), param_sources=None):
  """Parse gin config strings, files and bindings (in that order), then lock the config.

  Every gin error becomes a one-line UserError naming the file and line, or the
  --gin_param, it came from. `param_sources` optionally names each binding's origin
  (default: "--gin_param '<binding>'").
  """
  t2t_delta.import_all()   # every problem and model is a gin configurable
  gin.clear_config()
  files = [resolve_gin_file(f) for f in gin_files]
  gin_params = list(gin_params)
  sources = list(param_sources or [f"--gin_param '{p}'" for p in gin_params])
  steps = ([(gin.parse_config, text, 'the gin config of the run') for text in gin_texts] +
           [(gin.parse_config_file, path, f'gin file {path}') for path in files] +
           [(gin.parse_config, param, source)
            for param, source in zip(gin_params, sources)])
  with _gin_logging_silenced():
    for parse, arg, source in steps:
      try:
        parse(arg)
      except UserError:
        raise
      except Exception as e:  # pylint: disable=broad-except  (gin raises many kinds)
        raise UserError(gin_error_message(e, source)) from None
    try:
      gin.finalize()
    except UserError:
      raise
    except Exception as e:  # pylint: disable=broad-except
      # Macros are resolved here; name the binding or file that used the macro.
      source = 'the gin configuration'
      match = re.search(r"'([^'/]*)/gin.macro'", str(e))
      if match:
        pattern = re.compile(r'%' + re.escape(match.group(1)) + r'\b')
        for parse, arg, where in steps:
          text = arg
          if parse is gin.parse_config_file:
            with open(arg) as f:
              text = f.read()
          if pattern.search(text):
            source = where
            break
      raise UserError(gin_error_message(e, source)) from None


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
    # Refuse a foreign run directory before anything else touches it (a busy one was
    # refused before TensorFlow loaded: `train/cli.py`).
    run_dir.check_compatible(flags.output_dir, flags.problem, flags.model)
    if not -2**31 <= flags.seed < 2**31:
      raise UserError(f'--seed={flags.seed} must fit in 32 bits (-2147483648..2147483647).')
    params = list(flags.gin_param)
    sources = [f"--gin_param '{p}'" for p in params]
    if flags.train_steps is not None:
      params.append(f'train.steps = {flags.train_steps}')
      sources.append(f'--train_steps={flags.train_steps}')
    if flags.eval_every is not None:
      params.append(f'train.eval_every = {flags.eval_every}')
      sources.append(f'--eval_every={flags.eval_every}')
    parse_gin(flags.gin_file, params, param_sources=sources)
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
      lines = _lines(e)
      raise UserError(f'cannot build problem {self.problem_name}: '
                      f'{lines[0].rstrip(".") if lines else type(e).__name__}; check the '
                      f'{self.problem_name}.* gin bindings and --data_dir.') from None

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

  def trainer(self, write_run_info=True):
    """The Trainer (model built under the strategy; nothing is written here).

    With `write_run_info`, the trainer writes run.json (chief only) once the first
    training step of the invocation has run, i.e. after every check of the flags, gin
    bindings, data and model has passed and the model has run once.
    """
    from t2t_delta.train.trainer import Trainer  # pylint: disable=g-import-not-at-top
    if self._trainer is None:
      run_info = None
      if write_run_info:
        run_info = {'problem': self.problem_name, 'model': self.model_name,
                    'data_dir': self.data_dir, 'seed': self.seed,
                    'gin_files': getattr(self, 'gin_files', []),
                    'gin_params': getattr(self, 'gin_params', []),
                    'data': self.problem.data_info()}
      self._trainer = Trainer(self.problem, self.model_cls, self.output_dir,
                              self.strategy, seed=self.seed, config=self.train_config(),
                              run_info=run_info)
    return self._trainer
