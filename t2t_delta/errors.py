"""User-facing errors.

A `UserError` carries a one-line message that says what was wrong, what the valid
choices are and what to do. The command-line tools print it without a traceback and
exit with status 2.
"""


class UserError(ValueError):
  """A mistake in flags, configuration or data that the user can fix."""
