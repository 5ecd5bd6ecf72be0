"""HTTP negotiation decisions as pure functions: conditional requests and gzip acceptance."""

from __future__ import annotations

from email.utils import formatdate, parsedate_to_datetime


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison, a list of tags or ``*``."""
    if if_none_match.strip() == "*":
        return True
    want = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == want for tag in if_none_match.split(","))


def not_modified_since(if_modified_since: str, mtime: float) -> bool:
    """True when the file has not changed since the client's date (second precision)."""
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False  # an unparsable date is ignored (RFC 9110 §13.1.3)
    if since is None or since.tzinfo is None:
        return False
    return int(mtime) <= int(since.timestamp())


def http_date(ts: float) -> str:
    """An IMF-fixdate, e.g. ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    return formatdate(int(ts), usegmt=True)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether Accept-Encoding allows gzip (``gzip``, ``x-gzip`` or ``*`` with q > 0)."""
    star: bool | None = None
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name in ("gzip", "x-gzip"):
            return q > 0
        if name == "*":
            star = q > 0
    return bool(star)
