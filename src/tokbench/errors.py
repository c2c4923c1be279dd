"""Errors a user can act on. The CLI prints their message, never a traceback."""


class TokbenchError(Exception):
    """A problem with the user's input or environment, explained in one sentence."""

    exit_code = 2
