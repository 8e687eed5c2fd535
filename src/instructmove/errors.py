"""Errors that the CLI reports as one readable message instead of a traceback."""


class StageError(RuntimeError):
    """A stage cannot go on; the message names the file or key, the value and the fix."""
