"""Models. Every module in this package is imported by `import t2t_delta`."""

from t2t_delta.models.base import LatentVariableModel, Model  # noqa: F401
