"""Stored text vectors for Related News: one compact row per article, tagged with its model.

``related_vectors`` keeps each article's vector as a float16 blob with the model id and
dimension it came from, and its date (epoch seconds, indexed) so a window's vectors are one
range scan. Rows of another model are stale: `stale_ids` finds them for a paced recompute.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    delete,
    or_,
    select,
)

from feedhub.store.batch import chunks, insert_many
from feedhub.store.schema import Id, articles, metadata

related_vectors = Table(
    "related_vectors",
    metadata,
    Column("article_id", Id, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("published", BigInteger, nullable=False),  # epoch seconds, as in related_docs
    Column("model", String(80), nullable=False),
    Column("dim", Integer, nullable=False),
    Column("words", Integer, nullable=False),  # text length in tokens: the floor depends on it
    Column("vec", LargeBinary, nullable=False),
    Index("ix_related_vectors_published", "published"),
)


class StoredVector(NamedTuple):
    """One article's vector as stored (``vec`` still the blob)."""

    article_id: int
    published: int
    words: int
    vec: bytes


def _epoch(when: datetime) -> int:
    return int(when.timestamp())


def write_vectors(
    conn: Connection, model: str, dim: int, rows: Sequence[tuple[int, datetime, int, bytes]]
) -> None:
    """Store (article id, published, words, blob) rows, replacing any older vector."""
    ids = [r[0] for r in rows]
    for chunk in chunks(ids):
        conn.execute(delete(related_vectors).where(related_vectors.c.article_id.in_(chunk)))
    insert_many(
        conn,
        related_vectors,
        ("article_id", "published", "model", "dim", "words", "vec"),
        [(i, _epoch(p), model, dim, w, v) for i, p, w, v in rows],
    )


def read_vectors(conn: Connection, ids: Iterable[int], model: str) -> dict[int, StoredVector]:
    """Vectors of the given articles made by ``model`` (others are missing from the result)."""
    v = related_vectors.c
    found: dict[int, StoredVector] = {}
    for chunk in chunks(list(ids)):
        rows = conn.execute(
            select(v.article_id, v.published, v.words, v.vec).where(
                v.article_id.in_(chunk), v.model == model
            )
        )
        found.update((r.article_id, StoredVector(*r)) for r in rows)
    return found


def vectors_between(
    conn: Connection, start: datetime, end: datetime, model: str
) -> list[StoredVector]:
    """Every ``model`` vector of an article published in [start, end], by article id."""
    v = related_vectors.c
    rows = conn.execute(
        select(v.article_id, v.published, v.words, v.vec)
        .where(v.published >= _epoch(start), v.published <= _epoch(end), v.model == model)
        .order_by(v.article_id)
    )
    return [StoredVector(*r) for r in rows]


def all_vectors(conn: Connection, model: str) -> list[StoredVector]:
    """Every ``model`` vector in the store, by article id (a run's window index loads them)."""
    v = related_vectors.c
    rows = conn.execute(
        select(v.article_id, v.published, v.words, v.vec)
        .where(v.model == model)
        .order_by(v.article_id)
    )
    return [StoredVector(*r) for r in rows]


def epoch(when: datetime) -> int:
    """A date as the epoch seconds stored in ``published`` (the window's bounds too)."""
    return _epoch(when)


def stale_ids(conn: Connection, model: str) -> list[int]:
    """Articles with no vector of ``model`` (none yet, or one of another model), by id."""
    v = related_vectors.c
    return list(
        conn.scalars(
            select(articles.c.id)
            .outerjoin(related_vectors, v.article_id == articles.c.id)
            .where(or_(v.article_id.is_(None), v.model != model))
            .order_by(articles.c.id)
        )
    )


def published_of(conn: Connection, ids: Iterable[int]) -> dict[int, datetime]:
    """The stored ``published`` of the given articles."""
    a = articles.c
    found: dict[int, datetime] = {}
    for chunk in chunks(list(ids)):
        rows = conn.execute(select(a.id, a.published).where(a.id.in_(chunk)))
        found.update((r.id, r.published) for r in rows)
    return found
