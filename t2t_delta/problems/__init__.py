"""Problems: datasets with feature shapes and a reporting unit.

Every module in this package is imported by `import t2t_delta`, which registers its
problems.
"""

from t2t_delta.problems.base import ImageProblem, Problem, TextProblem  # noqa: F401
