"""User-facing errors.

Anything a user can get wrong (unknown model name, missing file, impossible option value, bad
tensor shape, NaN input) raises :class:`SpikemaskError` with one sentence that says what to do.
The CLI prints that sentence as a single line and exits with status 2; library callers can catch it.
"""


class SpikemaskError(Exception):
    """An error caused by the user's input, with a message that says how to fix it."""


def check(condition: bool, message: str) -> None:
    """Raise :class:`SpikemaskError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise SpikemaskError(message)
