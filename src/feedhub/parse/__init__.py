"""The parse stage: bytes → normalized ``Article`` values (pure functions, no IO).

Every article that leaves here has a plain-text title (≤ 1,000 chars), sanitized HTML
(one nh3 allowlist, ≤ 1,000,000 chars), absolute http(s) URLs, UTC dates (None when the
source gave none) and a stable guid. ``content`` is empty when a feed only gives a
summary/description: consumers use ``content or summary``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from feedhub.model import LocalFile, ParsedFeed, ParseError
from feedhub.parse.feed import parse_xml_feed
from feedhub.parse.feedparser_fixes import install as install_fixes
from feedhub.parse.folder import parse_article_folder
from feedhub.parse.jsonfeed import parse_json_feed
from feedhub.parse.normalize import dedupe_by_guid, keep_newest, without_ancient_dates

__all__ = ["ParseError", "install_fixes", "parse_feed", "parse_folder"]

_JSON_TYPES = ("application/feed+json", "application/json")
# Magic numbers of things servers hand out instead of a feed (images, archives, PDFs).
_BINARY_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "a PNG image",
    b"GIF8": "a GIF image",
    b"\xff\xd8\xff": "a JPEG image",
    b"%PDF-": "a PDF document",
    b"PK\x03\x04": "a ZIP archive",
    b"\x1f\x8b": "gzip data (not decompressed)",
}


def parse_feed(
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    now: datetime,
    max_entries: int | None = None,
) -> ParsedFeed:
    """Parse an RSS, RDF, Atom or JSON Feed document fetched from ``url``.

    Raises ParseError with a one-line reason when the body is not a feed (an HTML page, an
    image, empty, garbage). A malformed but usable feed returns its articles with
    ``ParsedFeed.warning`` set. With ``max_entries``, only that many of the newest entries
    are kept (``ParsedFeed.dropped`` counts the rest): a feed of 100,000 entries must not
    become one 100,000-row transaction. The parse itself is bounded by the body cap.
    """
    parsed = tidy(_parse_document(body, url=url, content_type=content_type, now=now))
    if max_entries is None:
        return parsed
    kept, dropped = keep_newest(parsed.articles, max_entries)
    return replace(parsed, articles=kept, dropped=dropped) if dropped else parsed


def _parse_document(
    body: bytes, *, url: str, content_type: str | None, now: datetime
) -> ParsedFeed:
    """Sniff the format (and refuse what is plainly not a feed), then parse."""
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise ParseError("empty body")
    media = (content_type or "").split(";", 1)[0].strip().lower()
    for magic, what in _BINARY_MAGIC.items():
        if stripped.startswith(magic):
            raise ParseError(f"not a feed: {what}")
    if media.startswith(("image/", "audio/", "video/")):
        raise ParseError(f"not a feed: content type {media}")
    if media in _JSON_TYPES or stripped.startswith(b"{"):
        return parse_json_feed(body, url=url, now=now)
    return parse_xml_feed(body, url=url, content_type=content_type, now=now)


def parse_folder(
    files: Sequence[LocalFile], *, base_url: str, source_name: str, now: datetime
) -> ParsedFeed:
    """Parse a folder snapshot of local article files into articles published under base_url.

    Each article's URL is ``{base_url}articles/{source_name}/{slug}.html``; the slug comes
    from the file's relative path, so it survives edits of the content.
    """
    # An author's own front matter may date an article before 1990 on purpose: kept.
    return tidy(
        parse_article_folder(files, base_url=base_url, source_name=source_name, now=now),
        drop_ancient=False,
    )


def tidy(parsed: ParsedFeed, *, drop_ancient: bool = True) -> ParsedFeed:
    """One article per guid (the first), no date before 1990 (a feed's 1970-01-01 is a
    zero timestamp, not news); both counted for the ingest log."""
    unique = dedupe_by_guid(parsed.articles)
    articles, ancient = without_ancient_dates(unique) if drop_ancient else (unique, 0)
    return replace(
        parsed, articles=articles, duplicate_guids=len(parsed.articles) - len(unique),
        ancient_dates=ancient,
    )
