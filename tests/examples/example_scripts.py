"""Loads a script of examples/ as a module, so its functions can be tested."""

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(name):
  """The module examples/<name>.py (its `main` is not run)."""
  spec = importlib.util.spec_from_file_location(
      name, os.path.join(REPO, 'examples', f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module
