"""Small text helpers shared by the renderers: XML-safe strings, dates, URL checks."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from feedhub.util.time import utc

__all__ = ["EPOCH", "format_day", "is_web_url", "utc", "xml_safe"]

# XML 1.0 forbids these code points; lxml refuses them with ValueError, so one stray control
# character from a source would otherwise abort the whole topic's render.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# Month names spelled out here rather than strftime("%b"): strftime follows the C locale of
# the process, and the published bytes must not depend on it.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Fixed `updated` for documents with no entries: no clock reads anywhere in rendering.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def xml_safe(text: str) -> str:
    """Drop the code points XML 1.0 cannot carry (and nothing else)."""
    return _NOT_XML.sub("", text)


def format_day(dt: datetime) -> str:
    """ "Jun 11, 2024" in UTC, independent of the process locale."""
    d = utc(dt)
    return f"{_MONTHS[d.month - 1]} {d.day}, {d.year}"


def is_web_url(url: str | None) -> bool:
    """True for absolute http(s) URLs: the only kind we put in an href we generate."""
    return bool(url) and re.match(r"(?i)https?://[^\s/]", url or "") is not None
