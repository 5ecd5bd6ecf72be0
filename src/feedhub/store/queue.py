"""The related queue in the store: article ids ingest queued (``pending_related``) for the
related stage (``feedhub.related.run``) to index."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import Connection, delete, func, select

from feedhub.store.batch import insert_many
from feedhub.store.schema import articles, pending_related


def queue_top(conn: Connection) -> int:
    """The highest queued id (0 when the queue is empty)."""
    return conn.execute(select(func.max(pending_related.c.article_id))).scalar() or 0


def queue_size(conn: Connection, upto: int) -> int:
    """How many ids up to ``upto`` are queued."""
    return conn.execute(
        select(func.count()).select_from(pending_related).where(
            pending_related.c.article_id <= upto)
    ).scalar_one()


def queued(conn: Connection, upto: int, limit: int) -> list[int]:
    """The first ``limit`` queued ids up to ``upto``, ascending."""
    return list(
        conn.execute(
            select(pending_related.c.article_id)
            .where(pending_related.c.article_id <= upto)
            .order_by(pending_related.c.article_id)
            .limit(limit)
        ).scalars()
    )


def enqueue(conn: Connection, new: Sequence[int] = (), changed: Sequence[int] = ()) -> None:
    """Queue articles for the related stage, once each: ``new`` ids (not queued yet, by
    construction: no lookup) and ``changed`` ones (queued unless they already are)."""
    waiting = set(
        conn.scalars(
            select(pending_related.c.article_id).where(pending_related.c.article_id.in_(changed))
        )
        if changed
        else ()
    )
    queued = set(new) | (set(changed) - waiting)
    insert_many(conn, pending_related, ("article_id",), [(i,) for i in sorted(queued)])


def dequeue(conn: Connection, ids: Collection[int]) -> None:
    """Take ``ids`` off the queue (one statement: callers chunk long lists)."""
    conn.execute(delete(pending_related).where(pending_related.c.article_id.in_(ids)))


def existing(conn: Connection, ids: Sequence[int]) -> set[int]:
    """Those of ``ids`` that still have an article row."""
    return set(conn.scalars(select(articles.c.id).where(articles.c.id.in_(ids))))
