"""Errors a user can cause, reported as one clear line without a traceback."""


class UserError(Exception):
    """Something the user can fix: a bad path, flag, file or field.

    The message is complete on its own and names the file or field at fault;
    front ends print it as one line and exit non-zero. ``field``, when set,
    names the request field at fault (the server reports it as ``param``).
    """

    def __init__(self, message: str = "", field: str | None = None):
        super().__init__(message)
        self.field = field
