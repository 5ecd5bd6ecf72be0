"""How the service words an exception in a log line."""

from __future__ import annotations


def one_line(e: BaseException) -> str:
    """The exception's first line (its type's name when it has no text): one log line each."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
