"""Errors a user can cause, reported as one clear line without a traceback."""


class UserError(Exception):
    """Something the user can fix: a bad path, flag, file or field.

    The message is complete on its own and names the file or field at fault;
    front ends print it as one line and exit non-zero.
    """
