"""Stored articles as a reader looks for them: by topic, source or words (``feedhub articles``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, or_, select

from feedhub.store.schema import article_topics, articles, sources


@dataclass(frozen=True, slots=True)
class ArticleListing:
    """One stored article with what identifies it to a user: its id, source and topics."""

    id: int
    published: datetime
    source: str
    title: str
    url: str | None
    topics: tuple[str, ...]


def list_articles(
    conn: Connection,
    *,
    topic: str | None = None,
    source: str | None = None,
    search: str | None = None,
    limit: int = 50,
) -> list[ArticleListing]:
    """The newest ``limit`` articles, filed under ``topic``, from ``source`` (its name), and
    holding every word of ``search`` in the title or summary (case-insensitive), if given.

    ``icontains`` is ``ILIKE`` on PostgreSQL and ``lower() LIKE lower()`` on SQLite (ASCII
    case only there), with ``%`` and ``_`` in the words taken literally.
    """
    a, s = articles.c, sources.c
    q = select(a.id, a.published, s.name, a.title, a.url).join_from(
        articles, sources, a.source_id == s.id
    )
    if topic is not None:
        filed = select(article_topics.c.article_id).where(article_topics.c.topic == topic)
        q = q.where(a.id.in_(filed))
    if source is not None:
        q = q.where(s.name == source)
    for word in (search or "").split():
        q = q.where(or_(*(c.icontains(word, autoescape=True) for c in (a.title, a.summary))))
    rows = conn.execute(q.order_by(a.published.desc(), a.id.desc()).limit(limit)).all()
    filed_under = _topics(conn, [r.id for r in rows])
    return [
        ArticleListing(r.id, r.published, r.name, r.title, r.url, filed_under.get(r.id, ()))
        for r in rows
    ]


def _topics(conn: Connection, ids: list[int]) -> dict[int, tuple[str, ...]]:
    """Article id → the topics it is filed under, sorted by name."""
    if not ids:
        return {}
    t = article_topics.c
    found: dict[int, list[str]] = {}
    for article_id, name in conn.execute(
        select(t.article_id, t.topic).where(t.article_id.in_(ids)).order_by(t.topic)
    ):
        found.setdefault(article_id, []).append(name)
    return {k: tuple(v) for k, v in found.items()}
