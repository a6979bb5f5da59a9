"""One registry for problems and models.

Every module under `t2t_delta.problems` and `t2t_delta.models` registers its classes on
import; the first lookup imports them all (`t2t_delta.import_all`), and an import
failure is an error rather than a silently missing name.

    @registry.register_problem
    class ImageSynthetic(problems.ImageProblem): ...

    registry.problem('image_synthetic')   # -> the class
    registry.list_problems()              # -> sorted names

Registering also makes the class gin-configurable under its registered name, so
`image_synthetic.image_size = 16` or `delta_vae_image.num_layers = 8` work in gin files.
"""

import re

import gin

from t2t_delta.errors import UserError

_PROBLEMS = {}
_MODELS = {}


def snake_case(name):
  """'DeltaVaeImage' -> 'delta_vae_image'."""
  name = re.sub(r'(.)([A-Z][a-z]+)', r'\1_\2', name)
  return re.sub(r'([a-z0-9])([A-Z])', r'\1_\2', name).lower()


def _register(table, kind, cls_or_name):
  def decorator(cls, name):
    name = name or snake_case(cls.__name__)
    if name in table and table[name] is not cls:
      raise ValueError(f'{kind} {name!r} is already registered by {table[name]!r}.')
    cls = gin.configurable(name)(cls)
    table[name] = cls
    cls.registered_name = name
    return cls

  if isinstance(cls_or_name, str):
    return lambda cls: decorator(cls, cls_or_name)
  return decorator(cls_or_name, None)


def register_problem(cls_or_name):
  """Class decorator; optional explicit name: `@register_problem('image_cifar10')`."""
  return _register(_PROBLEMS, 'problem', cls_or_name)


def register_model(cls_or_name):
  """Class decorator; optional explicit name: `@register_model('vae_conv')`."""
  return _register(_MODELS, 'model', cls_or_name)


def _ensure_imported():
  import t2t_delta  # pylint: disable=g-import-not-at-top
  t2t_delta.import_all()


def _lookup(table, kind, name):
  _ensure_imported()
  if name not in table:
    known = ', '.join(sorted(table)) or '(none)'
    raise UserError(f'unknown {kind} {name!r}; known {kind}s: {known}.')
  return table[name]


def problem(name):
  """The problem class registered as `name`; UserError listing known names otherwise."""
  return _lookup(_PROBLEMS, 'problem', name)


def model(name):
  """The model class registered as `name`; UserError listing known names otherwise."""
  return _lookup(_MODELS, 'model', name)


def list_problems():
  _ensure_imported()
  return sorted(_PROBLEMS)


def list_models():
  _ensure_imported()
  return sorted(_MODELS)


def help_string():
  """Human-readable listing for `--registry_help`."""
  _ensure_imported()
  lines = ['Problems:']
  for name in list_problems():
    doc = (_PROBLEMS[name].__doc__ or '').strip().splitlines()
    lines.append(f'  {name:28s} {doc[0] if doc else ""}')
  lines.append('Models:')
  for name in list_models():
    doc = (_MODELS[name].__doc__ or '').strip().splitlines()
    lines.append(f'  {name:28s} {doc[0] if doc else ""}')
  return '\n'.join(lines)
