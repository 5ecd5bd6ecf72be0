"""Whether the store changed since the last publish, read from the store, not from memory.

With several workers, the worker that ingested a change is often not the one that
publishes it (a ``--role fetch`` worker, or one whose publish was skipped because another
held the publish lock). So publishers poll this marker: articles queued for related
lists (every new or changed article is, in its ingest transaction) or an article count
that differs from the one the last publish saw (deletions: retention, folder sources).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from feedhub.store.meta import get_meta, set_meta
from feedhub.store.schema import articles, pending_related

PUBLISHED_ARTICLES = "published_articles"  # meta key: article count the last publish saw


@dataclass(frozen=True, slots=True)
class ChangeMarker:
    pending: bool  # articles wait for their related lists: not published yet
    articles: int
    published_articles: int | None  # None: no service publish recorded yet


def needs_publish(marker: ChangeMarker) -> bool:
    """Something was ingested, changed or deleted since the last recorded publish."""
    return marker.pending or marker.published_articles != marker.articles


def read_marker(conn: Connection) -> ChangeMarker:
    pending = conn.execute(select(pending_related.c.article_id).limit(1)).first() is not None
    count = int(conn.execute(select(func.count()).select_from(articles)).scalar() or 0)
    published = get_meta(conn, PUBLISHED_ARTICLES)
    return ChangeMarker(pending, count, int(published) if published is not None else None)


def record_published(conn: Connection, article_count: int) -> None:
    """After a publish: the article count it started from (read before it began, so a
    change made meanwhile still differs and is published next round)."""
    set_meta(conn, PUBLISHED_ARTICLES, str(article_count))
