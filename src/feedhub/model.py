"""Values that cross stage boundaries.

Every stage takes and returns these frozen dataclasses, never raw feedparser dicts or ORM
rows, so a stage can be tested with plain values (docs/architecture.md, "Rules").
All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads with dedupe, not with every import of the model
    import numpy as np


class FullText(StrEnum):
    """What feedhub does with a source's article pages (issue 15).

    ``analyze``: the page's text feeds dedupe, topics and related news; the published
    entry keeps the feed's own content. ``publish``: the extracted article becomes the
    entry's content (sanitized), the feed's teaser stays its summary.
    """

    OFF = "off"
    ANALYZE = "analyze"
    PUBLISH = "publish"


class SourceKind(StrEnum):
    """How a source is read: over HTTP, from one local feed file, or from a folder of articles."""

    HTTP = "http"
    FILE = "file"
    FOLDER = "folder"


def readable_name(slug: str) -> str:
    """A folder has no feed title of its own: "newsroom" → "Newsroom", "city-desk" → "City
    desk", shown on the index page and in atom:source unless the config gives a ``title``."""
    words = slug.replace("_", " ").replace("-", " ").split()
    return " ".join(words).capitalize() if words else slug


@dataclass(frozen=True, slots=True)
class Source:
    """A configured source as the rest of the pipeline sees it: URL resolved, kind decided."""

    name: str
    url: str  # http(s) URL, or the absolute path for local sources
    kind: SourceKind
    position: int  # order in the config file (dedupe tie-break)
    interval: timedelta
    topics: tuple[str, ...] = ()
    enabled: bool = True
    title: str | None = None
    full_text: FullText = FullText.OFF

    @property
    def path(self) -> Path | None:
        return None if self.kind is SourceKind.HTTP else Path(self.url)


@dataclass(frozen=True, slots=True)
class FetchState:
    """What the store remembers about a source between fetches (conditional GET, skip parse)."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None


@dataclass(frozen=True, slots=True)
class LocalFile:
    """One file of a folder source: its path relative to the folder, bytes and mtime."""

    path: str
    body: bytes
    mtime: datetime


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of fetching one source once: bytes (or why there are none) plus HTTP facts.

    ``error`` is one human-readable line; when it is set the other fields describe what was
    learnt before the failure (e.g. a status code) and ``body`` is None.
    """

    url: str
    status: int | None = None
    body: bytes | None = None
    files: tuple[LocalFile, ...] | None = None  # folder sources only: a full snapshot
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    final_url: str | None = None  # after redirects
    moved_to: str | None = None  # set when every hop to the final URL was 301/308
    gone: bool = False  # 410: the source should be disabled
    retry_after: timedelta | None = None  # from Retry-After (429/503) — a lower bound on next due
    max_age: timedelta | None = None  # from Cache-Control: max-age
    error: str | None = None
    # The failure got no answer and may pass on a retry (a timeout; a connection refused,
    # reset or dropped), as opposed to a refusal by feedhub's own guards or a bad URL.
    transient: bool = False
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Article:
    """One normalized entry as the parse stage produces it (pure data, no store ids).

    ``published``/``updated`` are None when the source gave no date: the store then uses
    the first-seen time, and keeps it on later fetches (a missing date must not look like a
    change every time the feed is read).
    """

    guid: str  # stable identity within its source: guid, else link, else hash of title+content
    title: str  # plain text, ≤ 1,000 characters
    url: str | None = None  # absolute http(s) link to the article
    summary: str = ""  # sanitized HTML
    content: str = ""  # sanitized HTML, ≤ 1 MB
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    published: datetime | None = None
    updated: datetime | None = None
    canonical_url: str | None = None  # feed-provided original link (feedburner:origLink etc.)
    path: str | None = None  # folder sources: the file it came from


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A source's document after parsing: feed-level facts plus its articles."""

    version: str  # e.g. "rss20", "atom10", "rss10", "json11", "folder"
    title: str = ""
    link: str | None = None  # the site's home page
    feed_id: str | None = None
    ttl: timedelta | None = None  # RSS <ttl>: a hint for the scheduler
    articles: tuple[Article, ...] = ()
    warning: str | None = None  # a non-fatal problem (feedparser bozo), one line
    dropped: int = 0  # entries left out by the max_entries cap (the oldest ones)
    duplicate_guids: int = 0  # entries left out because an earlier one had the same id
    ancient_dates: int = 0  # entries whose date (before 1990) was dropped: first-seen instead


@dataclass(frozen=True, slots=True)
class Extracted:
    """An article page after extraction (enrich → ingest → store): the article's sanitized
    HTML and its plain-text length, plus the page's own metadata; or why there is none.

    ``error`` set: nothing usable (not HTML, no article, boilerplate, shorter than the
    teaser); the article keeps its feed content.
    """

    html: str = ""
    chars: int = 0  # characters of plain text in ``html``
    published: datetime | None = None
    authors: tuple[str, ...] = ()
    error: str | None = None


class ParseError(Exception):
    """The body is not a feed we can read (HTML page, image, empty, broken beyond recovery)."""


def article_hash(a: Article) -> str:
    """Hash of everything about an article that, when changed, means "update it in place".

    Missing dates are left out on purpose: they are filled from first-seen by the store.
    """
    h = hashlib.blake2b(digest_size=16)
    for part in (
        a.title,
        a.url or "",
        a.summary,
        a.content,
        "\x1f".join(a.authors),
        "\x1f".join(a.categories),
        a.published.isoformat() if a.published else "",
        a.updated.isoformat() if a.updated else "",
        a.canonical_url or "",
    ):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class ArticleChanges:
    """Articles to insert, to update in place, and (snapshot sources) to delete, by guid."""

    new: tuple[Article, ...] = ()
    changed: tuple[Article, ...] = ()
    removed: tuple[str, ...] = ()
    reissued: int = 0  # items under a new guid taken for a stored article (``reissued_as``)

    def __bool__(self) -> bool:
        return bool(self.new or self.changed or self.removed)


@dataclass(frozen=True, slots=True)
class SourceUpdate:
    """New values for a source's row after one fetch."""

    last_fetch: datetime
    last_status: int | None
    last_error: str | None
    error_count: int
    next_due: datetime
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    moved_to: str | None
    enabled: bool = True
    disabled_reason: str | None = None
    title: str | None = None  # None: keep what the store has
    link: str | None = None
    feed_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article as read back from the store, for topics, related news and publishing."""

    id: int
    source: str  # source name
    guid: str
    title: str
    url: str | None
    canonical_url: str | None
    summary: str
    content: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    published: datetime  # never None here: first-seen when the feed gave no date
    updated: datetime
    first_seen: datetime
    content_hash: str
    cluster_id: int | None = None  # set by dedupe: the representative's article id


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """A source's row in the store: its config identity plus its fetch state."""

    name: str
    url: str
    kind: SourceKind
    enabled: bool = True
    title: str = ""
    link: str | None = None
    feed_id: str | None = None
    state: FetchState = field(default_factory=FetchState)
    last_fetch: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    error_count: int = 0
    next_due: datetime | None = None
    moved_to: str | None = None
    disabled_reason: str | None = None
    article_count: int = 0


@dataclass(frozen=True, slots=True, eq=False)
class DedupeFeatures:
    """Dedupe features of one article (``eq=False``: numpy arrays do not compare as bools)."""

    article_id: int
    source_id: int
    published: datetime
    url_key: str | None  # hash of the canonical URL; None for no URL or a home page
    fingerprint: str | None  # content_fingerprint; None for short bodies
    shingles: np.ndarray  # sorted unique 32-bit hashes of word 3-shingles of title and body
    keys: tuple[int, ...]  # LSH band keys + lead key: equal key ⇒ candidate pair

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # Parse workers send every new article's features to the writer. The default
        # pickle of the numpy array (and dataclass state) cost the main process 14 µs per
        # article to load, 0.14 s per 10,000; raw bytes and np.frombuffer cost a tenth.
        return _features, (
            self.article_id, self.source_id, self.published, self.url_key,
            self.fingerprint, self.shingles.astype("<u4").tobytes(), self.keys,
        )


def _features(
    article_id: int, source_id: int, published: datetime, url_key: str | None,
    fingerprint: str | None, shingles: bytes, keys: tuple[int, ...],
) -> DedupeFeatures:
    """A DedupeFeatures from its pickled form (``DedupeFeatures.__reduce__``)."""
    import numpy as np  # only where features are unpickled: the model loads everywhere

    return DedupeFeatures(
        article_id, source_id, published, url_key, fingerprint,
        np.frombuffer(shingles, dtype="<u4").astype(np.uint32, copy=False), keys,
    )
