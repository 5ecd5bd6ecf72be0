"""RSS 0.90–2.0, RSS 1.0 (RDF) and Atom 0.3/1.0 → ``ParsedFeed``, via feedparser.

feedparser is only asked to parse; its result dicts never leave this module. Plain
well-formed UTF-8 documents are read by ``fastxml`` instead (#17), which builds the same
dict (the keys read here) with lxml, or declines and leaves the document to feedparser.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import feedparser

from feedhub.model import Article, ParsedFeed, ParseError
from feedhub.parse import fastxml
from feedhub.parse import normalize as n
from feedhub.parse.feedparser_fixes import (
    defuse_entities,
    drop_impossible_wide_encoding,
    install,
)
from feedhub.parse.sanitize import text_to_html

_HTML_TYPES = ("text/html", "application/xhtml+xml")
# feedparser's dicts read without FeedParserDict.get's alias lookup (two Python calls per
# read, 0.1 s per 200 generated feeds). Every key read below is stored under its own name
# and is no alias (FeedParserDict.keymap, "updated*", "category", "license",
# "enclosures"), so the answer is the same; the dicts are FeedParserDict or plain {}.
_get: Callable[..., Any] = dict.get
_TTL_MAX = timedelta(days=365)  # a sane ceiling; also keeps timedelta() from overflowing


def parse_xml_feed(
    body: bytes, *, url: str, content_type: str | None, now: datetime, fast_path: bool = True
) -> ParsedFeed:
    """Parse an RSS/RDF/Atom document; raise ParseError when it is not a feed at all.

    A plain well-formed document is read by the strict lxml fast path (``fastxml``, #17),
    which gives feedparser's values or declines; everything else goes to feedparser.
    ``fast_path=False`` always uses feedparser (the differential tests' reference).
    """
    # Process-wide patches of feedparser (feedparser_fixes): it builds its parser classes
    # internally, so there is no per-call way to pass fixed ones. A flag check after the first.
    # Made before the fast path too: a process's first parse installs them, whichever path.
    install()
    d = fastxml.parse(body, content_type) if fast_path else None
    if d is None:
        d, body = _feedparser(body, content_type)
    return _parsed_feed(d, body, url=url, now=now)


def _feedparser(body: bytes, content_type: str | None) -> tuple[Mapping[str, Any], bytes]:
    """feedparser's result dict for ``body`` behind feedhub's fixes, and the body it read."""
    # No Content-Location on purpose: feedparser would resolve every relative URL against the
    # feed file's URL, but an RSS item link is relative to the channel's site <link> (feeds
    # are often served from another host or a /feed/ directory). Left relative, they are
    # resolved below against the right base; feedparser still applies xml:base (Atom).
    body, content_type = drop_impossible_wide_encoding(body, content_type)
    headers = {"content-type": content_type} if content_type else {}
    try:
        # Both HTML passes of feedparser are off: nh3 sanitizes every HTML value afterwards
        # anyway (one allowlist, comments stripped) and resolves its relative URLs against
        # the xml:base feedparser records per element. On a 170 KB RSS feed this took
        # feedparser from 77 ms to 6.4 ms; the nh3 pass adds ~3 ms.
        d = feedparser.parse(
            defuse_entities(body),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except (RecursionError, MemoryError) as exc:  # pathological nesting, not a feed
        raise ParseError(n.one_line(f"unparseable document: {type(exc).__name__}")) from exc
    except Exception as exc:  # feedparser bugs on hostile input must not crash an ingest
        raise ParseError(n.one_line(f"feedparser failed: {type(exc).__name__}: {exc}")) from exc
    return d, body


def _parsed_feed(d: Mapping[str, Any], body: bytes, *, url: str, now: datetime) -> ParsedFeed:
    """feedparser's result (or the fast path's copy of it) → ParsedFeed."""
    version: str = d.get("version") or ""
    entries: Sequence[dict[str, Any]] = d.get("entries") or []
    if not version and not entries:
        raise ParseError(_not_a_feed_reason(body, d))

    feed: Mapping[str, Any] = d.get("feed") or {}
    feed_link = n.http_url(_get(feed, "link"), url)
    # RSS item links (and relative URLs in their HTML) belong to the site, not the feed file.
    base = feed_link if version.startswith("rss") and feed_link else url
    feed_authors = _authors(feed) if version.startswith("atom") else ()

    articles = (_article(e, base=base, feed_authors=feed_authors, now=now) for e in entries)
    return ParsedFeed(
        version=version or "unknown",
        title=_title(feed),
        link=feed_link,
        feed_id=_feed_id(feed),
        ttl=_ttl(feed.get("ttl")),
        articles=tuple(articles),  # deduped by guid in parse/__init__.py
        warning=_warning(d) if d.get("bozo") else None,
    )


def _article(
    e: dict[str, Any], *, base: str, feed_authors: tuple[str, ...], now: datetime
) -> Article:
    """One feedparser entry → Article."""
    url = n.http_url(_get(e, "link"), base)
    content_detail = _content(e)
    summary_detail: Mapping[str, Any] = _get(e, "summary_detail") or {}
    if _get(summary_detail, "value") == _get(content_detail, "value"):
        # feedparser copies an Atom entry's content into summary when it has none.
        summary_detail = {}
    content = _html(content_detail, base)
    summary = _html(summary_detail, base)
    title = n.fallback_title(_title(e), summary, content, url)
    published = n.from_struct(_get(e, "published_parsed") or _get(e, "created_parsed"))
    # dict.get: FeedParserDict.get("updated_parsed") silently falls back to the published
    # date (with a DeprecationWarning); an absent <updated> must stay absent here.
    updated = n.from_struct(dict.get(e, "updated_parsed"))
    return Article(
        guid=n.make_guid(_get(e, "id"), url, title, content or summary),
        title=title,
        url=url,
        summary=summary,
        content=content,
        authors=_authors(e) or feed_authors,
        categories=n.names(
            _get(t, "term") or _get(t, "label") for t in _get(e, "tags") or ()
        ),
        # One date stands for both: an Atom entry often has only <updated>.
        published=n.clamp_date(published or updated, now),
        updated=n.clamp_date(updated or published, now),
        canonical_url=_canonical(e, base),
    )


def _content(e: Mapping[str, Any]) -> Mapping[str, Any]:
    """The entry's best content element (value, type, base): HTML first, then plain text."""
    candidates = [c for c in _get(e, "content") or () if isinstance(_get(c, "value"), str)]
    for c in candidates:
        if _get(c, "type", "text/html") in _HTML_TYPES:
            return c
    for c in candidates:
        if _get(c, "type") == "text/plain":
            return c
    return {}


def _html(detail: Mapping[str, Any], base: str) -> str:
    """Sanitized, capped HTML from a feedparser text construct (HTML or plain text).

    Relative URLs resolve against the construct's own xml:base (which feedparser records
    per element, relative to the document) joined onto the document's base.
    """
    raw = _get(detail, "value")
    if not raw or not isinstance(raw, str):
        return ""
    if _get(detail, "type") == "text/plain":
        return n.cap_html(text_to_html(raw[: n.HTML_MAX]))
    xml_base = _get(detail, "base")
    return n.cap_html(raw, n.http_url(xml_base, base) if xml_base else base)


def _title(d: Mapping[str, Any]) -> str:
    raw = _get(d, "title") or ""
    type_ = _get(_get(d, "title_detail") or {}, "type", "text/plain")
    return n.plain_title(raw, is_html=type_ in _HTML_TYPES)


def _authors(d: Mapping[str, Any]) -> tuple[str, ...]:
    """Author names; an author given only by e-mail is named by the e-mail."""
    people = _get(d, "authors") or ()
    found = [p.get("name") or p.get("email") for p in people if isinstance(p, Mapping)]
    if not any(found) and _get(d, "author"):
        found = [_get(d, "author")]
    return n.names(found)


def _canonical(e: Mapping[str, Any], base: str) -> str | None:
    """feedburner:origLink, else a rel="canonical" link."""
    origin = n.http_url(_get(e, "feedburner_origlink"), base)
    if origin:
        return origin
    for link in _get(e, "links") or ():
        if _get(link, "rel") == "canonical":
            return n.http_url(_get(link, "href"), base)
    return None


def _feed_id(feed: Mapping[str, Any]) -> str | None:
    raw = feed.get("id")
    return n.make_guid(raw, None, "", "") if isinstance(raw, str) and raw.strip() else None


def _ttl(raw: object) -> timedelta | None:
    """RSS <ttl> minutes → timedelta; missing, non-numeric or non-positive → None."""
    try:
        minutes = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    if minutes <= 0:
        return None
    return min(timedelta(minutes=min(minutes, 10**7)), _TTL_MAX)


def _warning(d: Mapping[str, Any]) -> str:
    exc = d.get("bozo_exception")
    if exc is None:
        return "feed is not well-formed"
    return n.one_line(f"{type(exc).__name__}: {exc}")


def _not_a_feed_reason(body: bytes, d: Mapping[str, Any]) -> str:
    head = body[:2048].lstrip().lower()
    if b"<html" in head or head.startswith(b"<!doctype html"):
        return "not a feed: an HTML page"
    if d.get("bozo") and d.get("bozo_exception") is not None:
        exc = d["bozo_exception"]
        return n.one_line(f"not a feed: {type(exc).__name__}: {exc}")
    return "not a feed: no RSS, RDF or Atom root element"
