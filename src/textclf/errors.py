"""Errors a user can cause. Each carries one sentence that names the thing and the fix.

The CLI prints the message and exits with code 2; nothing else in textclf catches them.
"""


class TextclfError(Exception):
    """Base class for user-facing errors (bad data, bad options, unknown model)."""


class DataError(TextclfError):
    """The data file cannot be used as given."""


class MissingColumnError(DataError):
    """A column the command needs is not in the file (`what`: "text", "label", ...)."""

    def __init__(self, message: str, what: str):
        super().__init__(message)
        self.what = what


class ModelError(TextclfError):
    """The model name or directory cannot be resolved or loaded."""


class OutputExistsError(TextclfError):
    """An output path exists and --overwrite was not given."""
