"""Gin files and bindings of a run: found, parsed and locked, or one-line UserErrors.

A run's configuration binds problems and models (registered by `t2t_delta.import_all`)
and the configurables of training: `train.*`, `adam.*`, `summaries.*`, schedules,
objectives and test hooks. `parse_gin` imports all of them first, so that a saved
config.gin parses in a tool that never trains (the evaluator, the decoder).
"""

import importlib
import os
import re

import gin

import t2t_delta
from t2t_delta.errors import UserError
from t2t_delta.runtime import gin_errors

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(t2t_delta.__file__)))

# The modules whose gin configurables a run's configuration may bind, besides the
# problems and models.
CONFIGURABLE_MODULES = (
    't2t_delta.objectives',         # @elbo, @beta_vae, ...
    't2t_delta.train.schedules',    # @constant_learning_rate, ...
    't2t_delta.train.optimizer',    # adam.*
    't2t_delta.train.summaries',    # summaries.*
    't2t_delta.train.faults',       # @inject_nonfinite (tests)
    't2t_delta.train.trainer',      # train.*
)


@gin.configurable('run')
def experiment(problem=None, model=None):
  """The registered problem and model a configuration names (`run.problem`,
  `run.model`), so that a gin file can be a whole experiment; None where unbound.
  The trainer's --problem and --model are bound here too, after the gin files."""
  return problem, model


def import_configurables():
  """Import (and so register with gin) every configurable a run may bind. Idempotent."""
  t2t_delta.import_all()
  for name in CONFIGURABLE_MODULES:
    importlib.import_module(name)


def resolve_gin_file(path):
  """A gin file path as given, else relative to the source tree (`gin/...`)."""
  for candidate in (path, os.path.join(SOURCE_ROOT, path),
                    os.path.join(SOURCE_ROOT, 'gin', path)):
    if os.path.isfile(candidate):
      return candidate
  raise UserError(f'gin file {path!r} not found (also looked in {SOURCE_ROOT}/gin); '
                  'check the --gin_file path.')


def parse_gin(gin_files=(), gin_params=(), gin_texts=(), param_sources=None):
  """Parse gin config strings, files and bindings (in that order), then lock the config.

  Every gin error becomes a one-line UserError naming the file and line, or the
  --gin_param, it came from. `param_sources` optionally names each binding's origin
  (default: "--gin_param '<binding>'").
  """
  import_configurables()
  gin.clear_config()
  files = [resolve_gin_file(f) for f in gin_files]
  gin_params = list(gin_params)
  sources = list(param_sources or [f"--gin_param '{p}'" for p in gin_params])
  steps = ([(gin.parse_config, text, 'the gin config of the run') for text in gin_texts] +
           [(gin.parse_config_file, path, f'gin file {path}') for path in files] +
           [(gin.parse_config, param, source)
            for param, source in zip(gin_params, sources)])
  with gin_errors.logging_silenced():
    for parse, arg, source in steps:
      with gin_errors.translated(source):
        parse(arg)
    # Macros are resolved here; name the binding or file that used the macro.
    try:
      gin.finalize()
    except UserError:
      raise
    except Exception as e:  # pylint: disable=broad-except
      raise UserError(gin_errors.message(e, _macro_source(e, steps))) from None


def _macro_source(error, steps):
  """The source (file or binding) among `steps` that uses the macro `error` names."""
  match = re.search(r"'([^'/]*)/gin.macro'", str(error))
  if match:
    pattern = re.compile(r'%' + re.escape(match.group(1)) + r'\b')
    for parse, arg, where in steps:
      text = arg
      if parse is gin.parse_config_file:
        with open(arg) as f:
          text = f.read()
      if pattern.search(text):
        return where
  return 'the gin configuration'
