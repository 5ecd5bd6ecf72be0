"""Field normalization shared by every input format: dates, caps, titles, identity, lists.

Each helper is small and pure so the feed, JSON Feed and folder parsers agree on what an
``Article`` looks like whatever the source format.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urljoin, urlsplit

from feedparser.datetimes import _parse_date

from feedhub.model import Article
from feedhub.parse.sanitize import clean_html, collapse, strip_userinfo, to_text
from feedhub.util.time import utc

TITLE_MAX = 1_000
HTML_MAX = 1_000_000  # content and summary
GUID_MAX = 2_000  # longer ids (entity bombs, data: URIs) are replaced by their hash
NAME_MAX = 200  # one author or category
LIST_MAX = 50  # authors or categories per article
URL_MAX = 4_096
FUTURE_SLACK = timedelta(days=1)
# Before the web's news feeds: a 0 timestamp (1970-01-01) or a two-digit year read wrong.
# Like a future date it would misplace the article (and open an archive for January 1970).
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
# Raw text is cut before it is parsed at all: feedparser expands internal DTD entities, and a
# 300-byte document gave a 1,000,000-character title.
_RAW_TEXT_MAX = 100_000
# Control characters make no valid URL, and lone surrogates (from JSON escapes) cannot even
# be stored: SQLite's UTF-8 encoding raised and crashed the whole ingest.
_NOT_IN_URL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def from_struct(value: time.struct_time | None) -> datetime | None:
    """feedparser's ``*_parsed`` (a UTC struct_time) → aware datetime; None when absent/bad."""
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def from_any_date(value: object) -> datetime | None:
    """A date from YAML/JSON: datetime, date (midnight UTC) or an RFC 3339 / RFC 822 string."""
    if isinstance(value, datetime):
        return utc(value, naive_is_utc=True)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()[:100]
    try:
        return utc(datetime.fromisoformat(text), naive_is_utc=True)
    except ValueError:
        pass
    # Non-conforming strings ("Tue, 10 Jun 2003 04:00:00 GMT", "2003-06-10 04:00 EST"):
    # feedparser's date parser knows dozens of formats and returns UTC.
    return from_struct(_parse_date(text))


def clamp_date(value: datetime | None, now: datetime) -> datetime | None:
    """Dates more than a day in the future count as missing.

    A far-future date would otherwise pin the article to the top of every topic feed.
    Missing, the store uses the first-seen time and keeps it — clamping to ``now`` here
    would give a new date, hence an "update", on every fetch.
    """
    if value is None:
        return None
    value = utc(value, naive_is_utc=True)
    return None if value > utc(now, naive_is_utc=True) + FUTURE_SLACK else value


def cap_html(fragment: str, base: str | None = None) -> str:
    """Sanitize HTML and keep it within ``HTML_MAX`` characters without breaking markup."""
    out = clean_html(fragment[:HTML_MAX], base)
    limit = HTML_MAX
    # Sanitizing can lengthen the text (escaping, rel attributes); cutting the result could
    # split a tag, so cut earlier and sanitize again, which closes any open elements.
    while len(out) > HTML_MAX and limit > 1_000:
        limit -= max(len(out) - HTML_MAX, 1_000) * 2
        cut = out[:limit]
        cut = cut[: cut.rfind("<")] if cut.rfind("<") > cut.rfind(">") else cut
        out = clean_html(cut, base)
    return out[:HTML_MAX] if len(out) > HTML_MAX else out


def plain_title(raw: str, *, is_html: bool) -> str:
    """A plain-text title of at most ``TITLE_MAX`` characters."""
    raw = raw[:_RAW_TEXT_MAX]
    text = to_text(raw) if is_html else collapse(raw)
    return _cut(text, TITLE_MAX)


def fallback_title(title: str, summary_html: str, content_html: str, url: str | None) -> str:
    """The title, else an excerpt of the summary (or content), else the URL, else "(untitled)"."""
    if title:
        return title
    for body in (summary_html, content_html):
        excerpt = to_text(body[:_RAW_TEXT_MAX])
        if excerpt:
            return _cut(excerpt, 120)
    return _cut(url, TITLE_MAX) if url else "(untitled)"


def _cut(text: str, limit: int) -> str:
    """Cut at a word boundary near ``limit`` and mark the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def http_url(value: object, base: str | None = None) -> str | None:
    """An absolute http(s) URL (resolved against ``base``), or None for anything else.

    javascript:, data:, mailto: and unresolvable relative links are dropped, and a
    ``user:password@`` part is removed: every published link comes through here.
    """
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > URL_MAX or _NOT_IN_URL.search(value):
        return None
    try:
        absolute = urljoin(base, value) if base else value
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if "@" in parts.netloc:
        absolute = strip_userinfo(absolute)
        if not urlsplit(absolute).netloc:
            return None
    return absolute


def make_guid(raw_id: object, url: str | None, title: str, content_html: str) -> str:
    """Identity within a source: the feed's id, else the link, else a hash of title+content."""
    guid = collapse(raw_id) if isinstance(raw_id, str) else ""
    if guid:
        return guid if len(guid) <= GUID_MAX else "sha1:" + _sha1(guid)
    if url:
        return url
    return "sha1:" + _sha1(title + "\x1f" + to_text(content_html))


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def names(values: Iterable[object]) -> tuple[str, ...]:
    """Plain-text names: stripped, each ≤ ``NAME_MAX`` chars, deduplicated ignoring case, ≤ 50."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        if not isinstance(value, str):
            continue
        name = _cut(collapse(value[:_RAW_TEXT_MAX]), NAME_MAX)
        key = name.casefold()
        if name and key not in seen:
            seen.add(key)
            out.append(name)
            if len(out) == LIST_MAX:
                break
    return tuple(out)


def dedupe_by_guid(articles: Iterable[Article]) -> tuple[Article, ...]:
    """First article per guid: a feed repeating an id must not become two rows in one ingest."""
    seen: set[str] = set()
    out: list[Article] = []
    for article in articles:
        if article.guid not in seen:
            seen.add(article.guid)
            out.append(article)
    return tuple(out)


def without_ancient_dates(articles: Iterable[Article]) -> tuple[tuple[Article, ...], int]:
    """Articles with dates before ``EARLIEST`` removed (first-seen is used instead, as for
    a date in the future); and how many articles had one."""
    out: list[Article] = []
    changed = 0
    for a in articles:
        published = a.published if a.published is None or a.published >= EARLIEST else None
        updated = a.updated if a.updated is None or a.updated >= EARLIEST else None
        if published is not a.published or updated is not a.updated:
            changed += 1
            a = replace(a, published=published, updated=updated)
        out.append(a)
    return tuple(out), changed


def keep_newest(articles: tuple[Article, ...], limit: int) -> tuple[tuple[Article, ...], int]:
    """At most ``limit`` articles, the newest ones, in document order; and how many went.

    Dated articles rank by date, newest first; undated ones come after them in document
    order, because feeds list their newest entries first.
    """
    if len(articles) <= limit:
        return articles, 0

    def rank(i: int) -> tuple[int, float, int]:
        when = articles[i].published or articles[i].updated
        return (0, -when.timestamp(), i) if when is not None else (1, 0.0, i)

    kept = sorted(sorted(range(len(articles)), key=rank)[:limit])
    return tuple(articles[i] for i in kept), len(articles) - limit


def one_line(message: str, limit: int = 300) -> str:
    """A warning or error reason on one short line."""
    return _cut(collapse(message), limit)
