"""Dedupe's tables and the SQL of cross-source deduplication (issue 4); the decisions
(which pairs match, which clusters and representatives result) live in ``feedhub.dedupe``.

The LSH index lives in ``dedupe_keys`` (one row per band key and article) instead of
datasketch's in-memory index, so restarts keep it and memory does not grow with the store.
Verified pairs are kept as edges: clusters are the connected components of the edge graph,
so a deletion can split a cluster and an incremental run gives what a rebuild gives.

``articles.cluster_id`` is the id of the cluster's representative (``dedupe/cluster.py``
chooses it), carried by every member, including the representative; an article alone has
its own id.

Plain SQLAlchemy Core only (SQLite and PostgreSQL). Every function runs inside the
caller's transaction and commits nothing.

numpy loads on first use: opening the store imports this module (its tables), and a run
where nothing changed must not pay for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)

from feedhub.model import DedupeFeatures as Features
from feedhub.store import pages
from feedhub.store.batch import chunks, insert_many
from feedhub.store.schema import Id, UTCDateTime, articles, metadata, sources

dedupe_features = Table(
    "dedupe_features",
    metadata,
    Column(
        "article_id", Id, ForeignKey("articles.id", ondelete="CASCADE"),
        primary_key=True, autoincrement=False,
    ),
    Column("source_id", Id, nullable=False),
    Column("published", UTCDateTime, nullable=False),  # copy: the window needs no join
    Column("url_key", String(32)),  # blake2b of the canonical URL (long URLs index badly)
    Column("fingerprint", String(32)),
    Column("shingles", LargeBinary, nullable=False),  # sorted uint32, little-endian
    Column("keys", LargeBinary, nullable=False),  # int64 LE: which dedupe_keys rows to delete
    Index("ix_dedupe_features_url_key", "url_key"),
    Index("ix_dedupe_features_fingerprint", "fingerprint"),
)

# WITHOUT ROWID on SQLite: the primary key is the table, so a key lookup is one B-tree
# descent and no second index is written (ignored by PostgreSQL). Rows are deleted by
# (key, article_id) from dedupe_features.keys, hence no index on article_id.
dedupe_keys = Table(
    "dedupe_keys",
    metadata,
    Column("key", BigInteger, primary_key=True, autoincrement=False),
    Column("article_id", Id, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)

dedupe_edges = Table(
    "dedupe_edges",
    metadata,
    Column(
        "a", Id, ForeignKey("articles.id", ondelete="CASCADE"),
        primary_key=True, autoincrement=False,
    ),  # a < b
    Column(
        "b", Id, ForeignKey("articles.id", ondelete="CASCADE"),
        primary_key=True, autoincrement=False,
    ),
    Column("reason", String(16), nullable=False),
    Column("similarity", Float, nullable=False),
    Index("ix_dedupe_edges_b", "b"),
)

CHUNK = 400  # ids per IN (...): ~400 × 21 keys stays under SQLite's 32,766 variables


# Index keys go through the DBAPI cursor with plain tuples: ~1,050 rows per feed of 50
# articles, where SQLAlchemy's per-row parameter handling cost 3× the insert itself, and
# its expanding IN rendered ~1,050 bind names per lookup. Plain standard SQL, with the
# driver's own placeholder (``?`` for sqlite3, ``%s`` for psycopg).
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def _driver_sql(conn: Connection, template: str, n: int = 0) -> str | None:
    """``template`` with ``{k}`` as the quoted key column, ``{m}`` one placeholder and
    ``{ms}`` ``n`` of them; None for a driver whose placeholders we do not know."""
    mark = _MARKS.get(conn.dialect.paramstyle)
    if mark is None:
        return None
    key = conn.dialect.identifier_preparer.quote("key")
    return template.format(k=key, m=mark, ms=",".join([mark] * n))


def _from_row(row: Any) -> Features:
    import numpy as np

    return Features(
        article_id=row.article_id,
        source_id=row.source_id,
        published=row.published,
        url_key=row.url_key,
        fingerprint=row.fingerprint,
        shingles=np.frombuffer(row.shingles, dtype="<u4").astype(np.uint32),
        keys=tuple(np.frombuffer(row.keys, dtype="<i8").tolist()),
    )


def load_features(conn: Connection, ids: Iterable[int]) -> dict[int, Features]:
    out: dict[int, Features] = {}
    for chunk in chunks(sorted(set(ids)), CHUNK):
        q = select(dedupe_features).where(dedupe_features.c.article_id.in_(chunk))
        for row in conn.execute(q).all():
            out[row.article_id] = _from_row(row)
    return out


def load_articles(conn: Connection, ids: Sequence[int], *, text: bool = True) -> list[Any]:
    """What features (``text``: not needed when they are given) and representatives need,
    in one query per chunk."""
    a, s = articles.c, sources.c
    cols = [a.id, a.source_id, a.published, a.cluster_id, s.position]
    if text:
        # The article page's text when there is one (full text, store/pages.py).
        content = pages.analysis_content(a.content).label("content")
        cols += [a.title, content, a.summary, a.url, a.canonical_url]
    rows: list[Any] = []
    for chunk in chunks(ids, CHUNK):
        q = select(*cols).join_from(articles, sources, a.source_id == s.id)
        if text:
            q = pages.with_pages(q)
        q = q.where(a.id.in_(chunk))
        rows.extend(conn.execute(q).all())
    return rows


def drop_index(conn: Connection, ids: Sequence[int]) -> set[int]:
    """Forget the features, keys and edges of ``ids``; returns their former neighbours."""
    neighbours: set[int] = set()
    old = load_features(conn, ids)
    if not old:  # new articles: nothing to forget (saves three queries per call)
        return neighbours
    ids = sorted(old)
    key_rows = [{"k": k, "a": f.article_id} for f in old.values() for k in f.keys]
    if key_rows:
        conn.execute(
            delete(dedupe_keys).where(
                dedupe_keys.c.key == bindparam("k"), dedupe_keys.c.article_id == bindparam("a")
            ),
            key_rows,
        )
    e = dedupe_edges.c
    for chunk in chunks(ids, CHUNK):
        for a, b in conn.execute(select(e.a, e.b).where(or_(e.a.in_(chunk), e.b.in_(chunk)))):
            neighbours.update((a, b))
        conn.execute(delete(dedupe_edges).where(or_(e.a.in_(chunk), e.b.in_(chunk))))
        conn.execute(delete(dedupe_features).where(dedupe_features.c.article_id.in_(chunk)))
    return neighbours - set(ids)


_FEATURE_COLUMNS = (
    "article_id", "source_id", "published", "url_key", "fingerprint", "shingles", "keys"
)


def insert_features(conn: Connection, feats: Sequence[Features]) -> None:
    """Store features and their index keys in bulk (executemany); also used by benchmarks."""
    if not feats:
        return
    import numpy as np

    insert_many(
        conn,
        dedupe_features,
        _FEATURE_COLUMNS,
        [
            (
                f.article_id, f.source_id, f.published, f.url_key, f.fingerprint,
                f.shingles.astype("<u4").tobytes(), np.asarray(f.keys, dtype="<i8").tobytes(),
            )
            for f in feats
        ],
    )
    key_rows = sorted((k, f.article_id) for f in feats for k in set(f.keys))
    if not key_rows:
        return
    sql = _driver_sql(conn, "INSERT INTO dedupe_keys ({k}, article_id) VALUES ({m}, {m})")
    if sql is not None:
        conn.exec_driver_sql(sql, key_rows)
    else:
        conn.execute(dedupe_keys.insert(), [{"key": k, "article_id": a} for k, a in key_rows])


def candidates(conn: Connection, feats: Sequence[Features]) -> dict[int, set[int]]:
    """Candidate article ids per new article: shared band/lead key, URL key or fingerprint."""
    by_key: dict[int, set[int]] = {}
    by_url: dict[str, set[int]] = {}
    by_fp: dict[str, set[int]] = {}
    keys = sorted({k for f in feats for k in f.keys})
    for chunk in chunks(keys, CHUNK * 20):
        sql = _driver_sql(
            conn, "SELECT {k}, article_id FROM dedupe_keys WHERE {k} IN ({ms})", len(chunk)
        )
        rows = (
            conn.exec_driver_sql(sql, tuple(chunk))
            if sql is not None
            else conn.execute(
                select(dedupe_keys.c.key, dedupe_keys.c.article_id).where(
                    dedupe_keys.c.key.in_(chunk)
                )
            )
        )
        for k, a in rows.all():  # one fetchall: row by row cost 5 % of the write path
            by_key.setdefault(k, set()).add(a)
    fc = dedupe_features.c
    urls = sorted({f.url_key for f in feats if f.url_key})
    fps = sorted({f.fingerprint for f in feats if f.fingerprint})
    for lo in range(0, max(len(urls), len(fps)), CHUNK):
        u, p = urls[lo : lo + CHUNK], fps[lo : lo + CHUNK]
        # One query: both columns are indexed, and OR of two IN lists uses both indexes.
        q = select(fc.url_key, fc.fingerprint, fc.article_id).where(
            or_(fc.url_key.in_(u), fc.fingerprint.in_(p))
        )
        for url, fp, a in conn.execute(q):
            by_url.setdefault(url, set()).add(a)
            by_fp.setdefault(fp, set()).add(a)
    out: dict[int, set[int]] = {}
    for f in feats:
        found: set[int] = set()
        for k in f.keys:
            found |= by_key.get(k, set())
        if f.url_key:
            found |= by_url.get(f.url_key, set())
        if f.fingerprint:
            found |= by_fp.get(f.fingerprint, set())
        found.discard(f.article_id)  # its own stale rows, if a caller skipped remove_articles
        out[f.article_id] = found
    return out


def cluster_facts(conn: Connection, ids: Iterable[int]) -> dict[int, tuple[Any, int, int | None]]:
    """(published, source position, cluster_id) per existing article id."""
    a, s = articles.c, sources.c
    out: dict[int, tuple[Any, int, int | None]] = {}
    for chunk in chunks(sorted(set(ids)), CHUNK):
        q = (
            select(a.id, a.published, s.position, a.cluster_id)
            .join_from(articles, sources, a.source_id == s.id)
            .where(a.id.in_(chunk))
        )
        for row in conn.execute(q):
            out[row.id] = (row.published, row.position, row.cluster_id)
    return out


def former_mates(conn: Connection, cluster_ids: Iterable[int]) -> set[int]:
    found: set[int] = set()
    for chunk in chunks(sorted(set(cluster_ids)), CHUNK):
        found.update(conn.scalars(select(articles.c.id).where(articles.c.cluster_id.in_(chunk))))
    return found


def connected(conn: Connection, seeds: set[int]) -> tuple[set[int], set[tuple[int, int]]]:
    """Every article reachable from ``seeds`` over stored edges, and those edges."""
    e = dedupe_edges.c
    seen, edges, frontier = set(seeds), set(), sorted(seeds)
    while frontier:
        nxt: set[int] = set()
        for chunk in chunks(frontier, CHUNK):
            # Two queries, not one OR: each uses its index on every backend.
            for cond in (e.a.in_(chunk), e.b.in_(chunk)):
                for a, b in conn.execute(select(e.a, e.b).where(cond)):
                    edges.add((a, b))
                    nxt.update((a, b))
        frontier = sorted(nxt - seen)
        seen |= nxt
    return seen, edges


def insert_edges(conn: Connection, edges: Mapping[tuple[int, int], Any]) -> None:
    """Store verified pairs (a < b) with their match's reason and similarity."""
    if edges:
        conn.execute(
            dedupe_edges.insert(),
            [{"a": a, "b": b, "reason": m.reason, "similarity": m.similarity}
             for (a, b), m in edges.items()],
        )


def set_cluster_ids(conn: Connection, updates: Sequence[dict[str, int]]) -> None:
    """Write ``{"b_id": article, "b_cluster": representative}`` rows as cluster_id."""
    if updates:
        conn.execute(
            update(articles)
            .where(articles.c.id == bindparam("b_id"))
            .values(cluster_id=bindparam("b_cluster")),
            updates,
        )


def set_alone(conn: Connection, ids: Sequence[int]) -> None:
    """Each of ``ids`` becomes its own representative."""
    for chunk in chunks(ids, CHUNK):
        conn.execute(
            update(articles).where(articles.c.id.in_(chunk)).values(cluster_id=articles.c.id)
        )


def clear_clusters(conn: Connection, ids: Sequence[int]) -> None:
    """Take ``ids`` out of every cluster (articles about to be deleted)."""
    for chunk in chunks(ids, CHUNK):
        conn.execute(update(articles).where(articles.c.id.in_(chunk)).values(cluster_id=None))


def clear_index(conn: Connection) -> None:
    """Forget every feature, key and edge (before a rebuild)."""
    for table in (dedupe_edges, dedupe_keys, dedupe_features):
        conn.execute(delete(table))


def article_ids(conn: Connection) -> list[int]:
    """Every stored article id, ascending."""
    return sorted(conn.scalars(select(articles.c.id)))


def edge_pairs(conn: Connection) -> list[tuple[int, int]]:
    """Every stored edge as (a, b)."""
    return [(r.a, r.b) for r in conn.execute(select(dedupe_edges.c.a, dedupe_edges.c.b))]


def multi_member_rows(conn: Connection) -> list[Any]:
    """(id, cluster_id, title, url, published, name, position) of every article in a
    cluster of more than one member, for `feedhub duplicates`."""
    a, s = articles.c, sources.c
    multi = (
        select(a.cluster_id)
        .where(a.cluster_id.is_not(None))
        .group_by(a.cluster_id)
        .having(func.count() > 1)
    )
    return conn.execute(
        select(a.id, a.cluster_id, a.title, a.url, a.published, s.name, s.position)
        .join_from(articles, sources, a.source_id == s.id)
        .where(a.cluster_id.in_(multi))
    ).all()
