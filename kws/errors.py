"""The error type for problems a user can fix (bad files, missing folders, wrong flags).

Commands print these as one clear line and exit 1; any other exception is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """Input that cannot be used as asked. The message names what and says how to fix it."""
