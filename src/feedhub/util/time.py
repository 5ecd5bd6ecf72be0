"""The one ``utc()``: every datetime that crosses a stage is timezone-aware UTC (model.py)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(value: datetime, what: str = "datetime", *, naive_is_utc: bool = False) -> datetime:
    """The same instant as an aware UTC datetime.

    A naive ``value`` is a caller bug (ValueError naming ``what``) unless ``naive_is_utc``:
    the parse stage passes it, as a feed's date without a zone is taken to be UTC.
    """
    if value.tzinfo is None:
        if naive_is_utc:
            return value.replace(tzinfo=UTC)
        raise ValueError(f"{what} must be timezone-aware: {value!r}")
    return value.astimezone(UTC)
