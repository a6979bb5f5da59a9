"""t2t_delta: latent-variable generative models with autoregressive decoders (δ-VAE).

Importing the package imports every module under `t2t_delta.problems` and
`t2t_delta.models`, which registers their problems and models. A module that fails to
import is an error, never a silently missing registry entry.
"""

import importlib
import pkgutil

__version__ = '0.1.0'


def _import_all(package_name):
  package = importlib.import_module(package_name)
  for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
    importlib.import_module(f'{package_name}.{info.name}')


_import_all('t2t_delta.problems')
_import_all('t2t_delta.models')
