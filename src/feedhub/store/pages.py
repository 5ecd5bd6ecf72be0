"""Article pages (full text, issue 15): the queue of pages to fetch and what came of them.

One row per article whose source has ``full_text`` on: ``pending`` until a runner claims
it (``claimed_until``: a lease, so two workers never fetch the same page and a crashed
one's claim runs out), then ``done`` with the extracted article (sanitized HTML) or
``failed`` with the one-line reason. The row goes with its article (ON DELETE CASCADE:
retention, folder deletions), so the text never outlives the article.

The extracted HTML is the article's *analysis text*: dedupe, topics and related news read
``coalesce(article_pages.html, articles.content)`` (``analysis_content``); in ``publish``
mode it is written over ``articles.content`` instead (and ``html`` stays NULL: one copy).
Stored uncompressed, because SQL reads it: 6.4 KB a page on average, 2.6 KB with zlib
(benchmarks/README.md, "Full text").
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from feedhub.model import Extracted
from feedhub.store.batch import chunks
from feedhub.store.queue import enqueue
from feedhub.store.schema import Id, UTCDateTime, articles, metadata, sources
from feedhub.store.vectors import related_vectors

PENDING, DONE, FAILED = "pending", "done", "failed"
# Claims of one page that ended without a result (its runner died or was stopped) before
# the page counts as failed: a page that kills its runner is not fetched forever.
MAX_CLAIMS = 3

article_pages = Table(
    "article_pages",
    metadata,
    Column("article_id", Id, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("source_id", Id, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),
    Column("state", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_until", UTCDateTime),
    Column("status", Integer),  # the page's HTTP status, when one came
    Column("error", Text),
    Column("html", Text),  # the extracted article, sanitized (done only)
    Column("chars", Integer),  # its plain-text length
    Column("fetched_at", UTCDateTime),
    Index("ix_article_pages_state", "state"),
    Index("ix_article_pages_source", "source_id", "fetched_at"),
)


class PageJob(NamedTuple):
    """A claimed page: what the runner needs to fetch and judge it."""

    article_id: int
    source: str  # source name
    url: str
    teaser: str  # the feed's content (else summary): the length to beat


@dataclass(frozen=True, slots=True)
class PageStats:
    """One source's pages, for ``feedhub sources``."""

    full_text: int = 0  # articles with their page's text
    failed: int = 0
    pending: int = 0
    last_error: str | None = None


def analysis_content(content: ColumnElement[Any]) -> ColumnElement[Any]:
    """The text the analysis stages read instead of ``articles.content``: the page's
    article when there is one. Needs ``article_pages`` outer-joined (``with_pages``)."""
    return func.coalesce(article_pages.c.html, content)


def with_pages(q: Any) -> Any:
    """``q`` (a select from ``articles``) with ``article_pages`` outer-joined."""
    return q.outerjoin(article_pages, article_pages.c.article_id == articles.c.id)


def queue_pages(conn: Connection, items: Sequence[tuple[int, int, str]]) -> None:
    """Queue ``(article id, source id, url)`` for fetching. An article queued before (its
    entry changed) starts again: its page may have changed too."""
    if not items:
        return
    ids = [i for i, _, _ in items]
    for chunk in chunks(ids, 500):
        conn.execute(delete(article_pages).where(article_pages.c.article_id.in_(chunk)))
    conn.execute(
        article_pages.insert(),
        [
            {"article_id": a, "source_id": s, "url": u, "state": PENDING, "attempts": 0}
            for a, s, u in items
        ],
    )


def claim_pages(
    conn: Connection,
    now: datetime,
    until: datetime,
    limit: int,
    *,
    source_names: Collection[str] | None = None,
    exclude: Collection[int] = (),
) -> list[PageJob]:
    """Up to ``limit`` pending pages nobody holds (of ``source_names`` only, when given),
    claimed until ``until``; oldest article first."""
    p, a, s = article_pages.c, articles.c, sources.c
    conn.execute(
        update(article_pages)
        .where(p.state == PENDING, p.attempts >= MAX_CLAIMS, p.claimed_until < now)
        .values(state=FAILED, error=f"no result after {MAX_CLAIMS} tries", fetched_at=now,
                claimed_until=None)
    )
    q = (
        select(p.article_id, s.name, p.url, a.content, a.summary)
        .join(articles, a.id == p.article_id)
        .join(sources, s.id == p.source_id)
        .where(p.state == PENDING, or_(p.claimed_until.is_(None), p.claimed_until < now))
        .order_by(p.article_id)
        .limit(limit)
    )
    if source_names is not None:
        q = q.where(s.name.in_(list(source_names)))
    if exclude:
        q = q.where(p.article_id.not_in(list(exclude)))
    if conn.dialect.name == "postgresql":
        # Several workers claim at once: each takes rows the others have not locked.
        # (SQLite's write transaction is exclusive already.)
        q = q.with_for_update(of=article_pages, skip_locked=True)
    rows = conn.execute(q).all()
    if rows:
        for chunk in chunks([r.article_id for r in rows], 500):
            conn.execute(
                update(article_pages)
                .where(p.article_id.in_(chunk))
                .values(claimed_until=until, attempts=p.attempts + 1)
            )
    return [PageJob(r.article_id, r.name, r.url, r.content or r.summary) for r in rows]


def release_pages(conn: Connection, ids: Collection[int]) -> None:
    """Hand back claimed pages not done (a runner stopping): claimable again at once."""
    for chunk in chunks(sorted(ids), 500):
        conn.execute(
            update(article_pages)
            .where(article_pages.c.article_id.in_(chunk), article_pages.c.state == PENDING)
            .values(claimed_until=None)
        )


def page_failed(
    conn: Connection, article_id: int, error: str, status: int | None, now: datetime
) -> None:
    conn.execute(
        update(article_pages)
        .where(article_pages.c.article_id == article_id)
        .values(
            state=FAILED, error=error, status=status, fetched_at=now, claimed_until=None,
            html=None, chars=None,
        )
    )


def page_done(
    conn: Connection,
    article_id: int,
    ext: Extracted,
    status: int | None,
    now: datetime,
    *,
    publish: bool,
) -> bool:
    """Store a page's article; ``publish``: it becomes the entry's content, and the entry
    is updated now (its feed's ``updated`` moves then, and only then). The page's
    metadata fills what the feed left out: authors and the date (a missing one was the
    first-seen time). Queues the article for related news (its text changed) and forgets
    its text vector, made from the feed's teaser by the parse worker: the related stage
    computes it again from the page. False when the article is gone (deleted meanwhile)."""
    a = articles.c
    row = conn.execute(
        select(a.id, a.authors, a.published, a.first_seen).where(
            a.id == article_id
        )
    ).first()
    if row is None:
        return False
    conn.execute(
        update(article_pages)
        .where(article_pages.c.article_id == article_id)
        .values(
            state=DONE, error=None, status=status, fetched_at=now, claimed_until=None,
            # Published: the text is the article's content, read from there (not twice).
            html=None if publish else ext.html, chars=ext.chars,
        )
    )
    values: dict[str, object] = {}
    if publish:
        values.update(content=ext.html, updated=now, changed=now)
    if not row.authors and ext.authors:
        values["authors"] = list(ext.authors)
    if ext.published is not None and row.published == row.first_seen:
        values["published"] = min(ext.published, row.first_seen)
    if values:
        conn.execute(update(articles).where(a.id == article_id).values(**values))
    conn.execute(delete(related_vectors).where(related_vectors.c.article_id == article_id))
    enqueue(conn, changed=[article_id])
    return True


def drop_page(conn: Connection, article_id: int) -> None:
    """Forget a queued page (its source's full text was turned off)."""
    conn.execute(delete(article_pages).where(article_pages.c.article_id == article_id))


def page_stats(conn: Connection) -> dict[str, PageStats]:
    """Per source name: pages done, failed and pending, and the latest failure's reason."""
    p, s = article_pages.c, sources.c
    counts: dict[str, dict[str, int]] = {}
    for name, state, n in conn.execute(
        select(s.name, p.state, func.count())
        .join(sources, s.id == p.source_id)
        .group_by(s.name, p.state)
    ):
        counts.setdefault(name, {})[state] = int(n)
    out: dict[str, PageStats] = {}
    for name, c in counts.items():
        last = None
        if c.get(FAILED):
            last = conn.execute(
                select(p.error)
                .join(sources, s.id == p.source_id)
                .where(and_(s.name == name, p.state == FAILED))
                .order_by(p.fetched_at.desc(), p.article_id.desc())
                .limit(1)
            ).scalar()
        out[name] = PageStats(c.get(DONE, 0), c.get(FAILED, 0), c.get(PENDING, 0), last)
    return out
