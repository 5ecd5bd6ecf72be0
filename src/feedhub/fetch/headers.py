"""Pure readers for the HTTP response headers the scheduler cares about.

Kept apart from the network code so that the parsing decisions can be tested with plain
strings and a fixed clock (docs/architecture.md: decisions are pure, the network is at the edge).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Retry-After as a delay: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).

    A date in the past gives zero; an unreadable value gives None (no hint), never an error,
    because servers send all sorts of things here.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 5322 "-0000": UTC by HTTP's rules
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


def parse_max_age(value: str | None) -> timedelta | None:
    """The ``max-age`` directive of a Cache-Control header, or None when absent or invalid."""
    if not value:
        return None
    for directive in value.split(","):
        name, _, arg = directive.partition("=")
        if name.strip().lower() == "max-age":
            arg = arg.strip().strip('"')
            return timedelta(seconds=int(arg)) if arg.isdigit() else None
    return None


def format_size(n: int) -> str:
    """A byte count for error lines: "10 MB" for whole mebibytes, else "1500 bytes"."""
    mib = 1024 * 1024
    if n >= mib and n % mib == 0:
        return f"{n // mib} MB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n} bytes"
