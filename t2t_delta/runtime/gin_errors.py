"""Gin's errors as one-line UserErrors that name where the mistake is.

gin raises many kinds of exceptions (its own, SyntaxError, tokenize.TokenError,
ImportError, ...) with context lines after the first. `message(error, source)` turns
one into a line such as

    unknown gin configurable 'trian' in --gin_param 'trian.steps=1'; did you mean
    'train'? ...

naming the gin file and line, or the binding, it came from; `translated(source)` does
so for the errors raised inside a `with` block.
"""

import contextlib
import difflib
import inspect
import logging
import re
import tokenize

import gin

from t2t_delta import errors
from t2t_delta.errors import UserError


def _gin_location(error, source):
  """'--gin_param 'x=1'' or 'gin file F, line N ('text')' from gin's context lines."""
  lines = errors.message_lines(error)
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


def message(error, source):
  """A one-line message for an error gin raised while parsing `source`."""
  lines = errors.message_lines(error)
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
def logging_silenced():
  """gin logs some failures (e.g. a missing include) before raising; keep stderr clean."""
  logging.disable(logging.CRITICAL)
  try:
    yield
  finally:
    logging.disable(logging.NOTSET)


@contextlib.contextmanager
def translated(source):
  """Re-raise any error gin raises inside the block as a one-line UserError about
  `source` (e.g. "--gin_param 'train.steps=1'" or 'gin file F')."""
  try:
    yield
  except UserError:
    raise
  except Exception as e:  # pylint: disable=broad-except  (gin raises many kinds)
    raise UserError(message(e, source)) from None
