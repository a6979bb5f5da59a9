"""t2t_delta: latent-variable generative models with autoregressive decoders (δ-VAE).

Problems and models register themselves when their modules are imported.
`import_all()` imports every module under `t2t_delta.problems` and `t2t_delta.models`;
the registry calls it before any lookup, so a module that fails to import is an error,
never a silently missing registry entry.
"""

import importlib
import pkgutil

__version__ = '0.1.0'

_IMPORTED = False


def import_all():
  """Import (and so register) every problem and model module. Idempotent."""
  global _IMPORTED
  if _IMPORTED:
    return
  for package_name in ('t2t_delta.problems', 't2t_delta.models'):
    package = importlib.import_module(package_name)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
      importlib.import_module(f'{package_name}.{info.name}')
  _IMPORTED = True
