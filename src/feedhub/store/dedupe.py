"""Dedupe's tables and the store side of cross-source deduplication (issue 4).

The LSH index lives in ``dedupe_keys`` (one row per band key and article) instead of
datasketch's in-memory index, so restarts keep it and memory does not grow with the store.
Verified pairs are kept as edges: clusters are the connected components of the edge graph,
so a deletion can split a cluster and an incremental run gives what a rebuild gives.

``articles.cluster_id`` is the id of the cluster's representative — earliest ``published``,
then ``sources.position`` (config order), then article id — carried by every member,
including the representative; an article alone has its own id.

Plain SQLAlchemy Core only (SQLite and PostgreSQL). Every function runs inside the
caller's transaction and commits nothing.

numpy and the feature extraction load on first use: opening the store imports this module
(its tables), and a run where nothing changed must not pay for them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import chain
from typing import TYPE_CHECKING, Any

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

from feedhub.dedupe.decide import (
    DEFAULT_WINDOW,
    Match,
    UnionFind,
    compare,
    components,
    representative,
    similarity,
)

if TYPE_CHECKING:
    from feedhub.dedupe.features import Features
from feedhub.store.batch import chunks
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

_CHUNK = 400  # ids per IN (...): ~400 × 21 keys stays under SQLite's 32,766 variables


@dataclass(frozen=True, slots=True)
class DedupeResult:
    """What a dedupe call changed, so the caller republishes only that."""

    indexed: int  # articles (re)indexed
    merges: int  # unions of two previously separate clusters
    changed_articles: frozenset[int]  # articles whose cluster_id changed
    affected_clusters: frozenset[int]  # representatives (old and new) whose member list changed


@dataclass(frozen=True, slots=True)
class Member:
    """One copy in a cluster, for `feedhub duplicates`."""

    article_id: int
    source: str
    title: str
    url: str | None
    similarity: float  # to the representative: 1.0 for URL/content identity


@dataclass(frozen=True, slots=True)
class Cluster:
    """A story with several copies; ``members[0]`` is the representative."""

    representative_id: int
    members: list[Member]


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


def _extract(row: Any, given: Mapping[int, Features] | None = None) -> Features:
    """Features of an article row; ``given`` ones (made beside the parse, ids unknown then)
    get the row's ids and stored ``published``."""
    from feedhub.dedupe.features import Features, extract

    f = given.get(row.id) if given else None
    if f is not None:
        return Features(  # what dataclasses.replace does, at a third of its cost
            row.id, row.source_id, row.published, f.url_key, f.fingerprint, f.shingles, f.keys
        )
    return extract(
        row.id, row.source_id, row.published, row.title,
        row.content or row.summary, row.canonical_url or row.url,
        canonical=row.canonical_url is not None,
    )


def _from_row(row: Any) -> Features:
    import numpy as np

    from feedhub.dedupe.features import Features

    return Features(
        article_id=row.article_id,
        source_id=row.source_id,
        published=row.published,
        url_key=row.url_key,
        fingerprint=row.fingerprint,
        shingles=np.frombuffer(row.shingles, dtype="<u4").astype(np.uint32),
        keys=tuple(np.frombuffer(row.keys, dtype="<i8").tolist()),
    )


def _load_features(conn: Connection, ids: Iterable[int]) -> dict[int, Features]:
    out: dict[int, Features] = {}
    for chunk in chunks(sorted(set(ids)), _CHUNK):
        q = select(dedupe_features).where(dedupe_features.c.article_id.in_(chunk))
        for row in conn.execute(q).all():
            out[row.article_id] = _from_row(row)
    return out


def _load_articles(conn: Connection, ids: Sequence[int], *, text: bool = True) -> list[Any]:
    """What features (``text``: not needed when they are given) and representatives need,
    in one query per chunk."""
    a, s = articles.c, sources.c
    cols = [a.id, a.source_id, a.published, a.cluster_id, s.position]
    if text:
        cols += [a.title, a.content, a.summary, a.url, a.canonical_url]
    rows: list[Any] = []
    for chunk in chunks(ids, _CHUNK):
        q = (
            select(*cols)
            .join_from(articles, sources, a.source_id == s.id)
            .where(a.id.in_(chunk))
        )
        rows.extend(conn.execute(q).all())
    return rows


def _drop_index(conn: Connection, ids: Sequence[int]) -> set[int]:
    """Forget the features, keys and edges of ``ids``; returns their former neighbours."""
    neighbours: set[int] = set()
    old = _load_features(conn, ids)
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
    for chunk in chunks(ids, _CHUNK):
        for a, b in conn.execute(select(e.a, e.b).where(or_(e.a.in_(chunk), e.b.in_(chunk)))):
            neighbours.update((a, b))
        conn.execute(delete(dedupe_edges).where(or_(e.a.in_(chunk), e.b.in_(chunk))))
        conn.execute(delete(dedupe_features).where(dedupe_features.c.article_id.in_(chunk)))
    return neighbours - set(ids)


def insert_features(conn: Connection, feats: Sequence[Features]) -> None:
    """Store features and their index keys in bulk (executemany); also used by benchmarks."""
    if not feats:
        return
    import numpy as np

    conn.execute(
        dedupe_features.insert(),
        [
            {
                "article_id": f.article_id,
                "source_id": f.source_id,
                "published": f.published,
                "url_key": f.url_key,
                "fingerprint": f.fingerprint,
                "shingles": f.shingles.astype("<u4").tobytes(),
                "keys": np.asarray(f.keys, dtype="<i8").tobytes(),
            }
            for f in feats
        ],
    )
    key_rows = [(k, f.article_id) for f in feats for k in set(f.keys)]
    if not key_rows:
        return
    sql = _driver_sql(conn, "INSERT INTO dedupe_keys ({k}, article_id) VALUES ({m}, {m})")
    if sql is not None:
        conn.exec_driver_sql(sql, key_rows)
    else:
        conn.execute(dedupe_keys.insert(), [{"key": k, "article_id": a} for k, a in key_rows])


def _candidates(conn: Connection, feats: Sequence[Features]) -> dict[int, set[int]]:
    """Candidate article ids per new article: shared band/lead key, URL key or fingerprint."""
    by_key: dict[int, set[int]] = {}
    by_url: dict[str, set[int]] = {}
    by_fp: dict[str, set[int]] = {}
    keys = sorted({k for f in feats for k in f.keys})
    for chunk in chunks(keys, _CHUNK * 20):
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
    for lo in range(0, max(len(urls), len(fps)), _CHUNK):
        u, p = urls[lo : lo + _CHUNK], fps[lo : lo + _CHUNK]
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


def _shared(feats: Sequence[Features]) -> list[list[Features]]:
    """Groups of a batch's articles that share an index key, URL key or fingerprint.

    Keys are counted first (in C) and only shared ones grouped: a set and a list per key
    of every article was a tenth of the write path, for the few keys that repeat.
    """
    def keys(f: Features) -> Iterable[object]:
        yield from set(f.keys)
        if f.url_key is not None:
            yield ("u", f.url_key)
        if f.fingerprint is not None:
            yield ("f", f.fingerprint)

    counts = Counter(chain.from_iterable(map(keys, feats)))
    repeated = {k for k, n in counts.items() if n > 1}
    if not repeated:
        return []
    groups: dict[object, list[Features]] = {}
    for f in feats:
        for k in keys(f):
            if k in repeated:
                groups.setdefault(k, []).append(f)
    return list(groups.values())


def _index(
    conn: Connection,
    rows: Sequence[Any],
    window: timedelta,
    given: Mapping[int, Features] | None = None,
) -> tuple[int, dict[tuple[int, int], Match]]:
    """Extract features of article rows (index already dropped), find and store their edges,
    then store the features.

    Stored candidates are looked up before the batch's own keys go in (a lookup would
    otherwise return every article's own 21 rows); pairs inside the batch are found in memory.
    """
    feats = [_extract(row, given) for row in rows]
    edges: dict[tuple[int, int], Match] = {}

    def consider(f: Features, other: Features) -> None:
        pair = (min(f.article_id, other.article_id), max(f.article_id, other.article_id))
        if pair not in edges and f.article_id != other.article_id:
            match = compare(f, other, window=window)
            if match is not None:
                edges[pair] = match

    for chunk in chunks(feats, _CHUNK):
        cands = _candidates(conn, chunk)
        known = _load_features(conn, {c for cs in cands.values() for c in cs})
        for f in chunk:
            for c in sorted(cands[f.article_id]):
                other = known.get(c)  # None: a stale key of an article deleted without us
                if other is not None:
                    consider(f, other)
    for group in _shared(feats):
        for i, f in enumerate(group):
            for other in group[i + 1 :]:
                consider(f, other)
    insert_features(conn, feats)
    if edges:
        conn.execute(
            dedupe_edges.insert(),
            [{"a": a, "b": b, "reason": m.reason, "similarity": m.similarity}
             for (a, b), m in edges.items()],
        )
    return len(feats), edges


def _cluster_facts(conn: Connection, ids: Iterable[int]) -> dict[int, tuple[Any, int, int | None]]:
    """(published, source position, cluster_id) per existing article id."""
    a, s = articles.c, sources.c
    out: dict[int, tuple[Any, int, int | None]] = {}
    for chunk in chunks(sorted(set(ids)), _CHUNK):
        q = (
            select(a.id, a.published, s.position, a.cluster_id)
            .join_from(articles, sources, a.source_id == s.id)
            .where(a.id.in_(chunk))
        )
        for row in conn.execute(q):
            out[row.id] = (row.published, row.position, row.cluster_id)
    return out


def _former_mates(conn: Connection, cluster_ids: Iterable[int]) -> set[int]:
    found: set[int] = set()
    for chunk in chunks(sorted(set(cluster_ids)), _CHUNK):
        found.update(conn.scalars(select(articles.c.id).where(articles.c.cluster_id.in_(chunk))))
    return found


def _connected(conn: Connection, seeds: set[int]) -> tuple[set[int], set[tuple[int, int]]]:
    """Every article reachable from ``seeds`` over stored edges, and those edges."""
    e = dedupe_edges.c
    seen, edges, frontier = set(seeds), set(), sorted(seeds)
    while frontier:
        nxt: set[int] = set()
        for chunk in chunks(frontier, _CHUNK):
            # Two queries, not one OR: each uses its index on every backend.
            for cond in (e.a.in_(chunk), e.b.in_(chunk)):
                for a, b in conn.execute(select(e.a, e.b).where(cond)):
                    edges.add((a, b))
                    nxt.update((a, b))
        frontier = sorted(nxt - seen)
        seen |= nxt
    return seen, edges


def _assign(
    conn: Connection,
    facts: dict[int, tuple[Any, int, int | None]],
    groups: list[list[int]],
) -> tuple[frozenset[int], frozenset[int]]:
    """Write each group's representative as cluster_id where it changed."""
    updates: list[dict[str, int]] = []
    affected: set[int] = set()
    for group in groups:
        rep = representative((facts[x][0], facts[x][1], x) for x in group)
        for x in group:
            old = facts[x][2]
            if old != rep:
                updates.append({"b_id": x, "b_cluster": rep})
                affected.add(rep)
                if old is not None:
                    affected.add(old)
    if updates:
        conn.execute(
            update(articles)
            .where(articles.c.id == bindparam("b_id"))
            .values(cluster_id=bindparam("b_cluster")),
            updates,
        )
    return frozenset(u["b_id"] for u in updates), frozenset(affected)


def _recluster(
    conn: Connection, seeds: set[int], new_edges: Iterable[tuple[int, int]]
) -> tuple[int, frozenset[int], frozenset[int]]:
    """Recompute the clusters that contain ``seeds``; returns (merges, changed, affected)."""
    members, edges = _connected(conn, seeds)
    facts = _cluster_facts(conn, members)  # drops ids whose article row is gone
    edges = {(a, b) for a, b in edges if a in facts and b in facts}
    # A merge joins two clusters that were apart before this call (re-runs count none).
    before = UnionFind()
    merges = sum(
        before.union(facts[a][2] or a, facts[b][2] or b)
        for a, b in new_edges
        if a in facts and b in facts
    )
    changed, affected = _assign(conn, facts, components(facts, edges))
    return merges, changed, affected


def dedupe_articles(
    conn: Connection,
    article_ids: Sequence[int],
    *,
    window: timedelta = DEFAULT_WINDOW,
    features: Mapping[int, Features] | None = None,
) -> DedupeResult:
    """Index new or changed articles, merge them into clusters and update cluster_id.

    Reads title, content (else summary), canonical_url (else url) and published from
    ``articles``. Idempotent: a second call with the same ids changes nothing. Ids without
    an article row are forgotten, as by ``remove_articles``.

    ``features`` (article id → ``extract`` of its stored values; its ids and ``published``
    are taken from the row) saves the extraction: the ingest runner computes them in the
    parse worker, so the write transaction only runs SQL.
    """
    ids = sorted(set(article_ids))
    rows = _load_articles(conn, ids, text=not features or any(i not in features for i in ids))
    prior = {r.id: (r.published, r.position, r.cluster_id) for r in rows}
    # An article without a cluster has no index entries (indexing gives it one; forgetting
    # clears it): a new article has nothing to forget, which saves a query per source. Ids
    # without a row are forgotten.
    unclustered = {i for i, (_, _, cluster) in prior.items() if cluster is None}
    old_neighbours = _drop_index(conn, [i for i in ids if i not in unclustered])
    indexed, edges = _index(conn, rows, window, features)
    # New articles that found no copy (most of them) are alone: each becomes its own
    # representative — what _recluster would write — in one statement; only the others
    # go through the edge graph.
    linked = {x for pair in edges for x in pair} | old_neighbours
    alone = sorted(x for x, (_, _, c) in prior.items() if c is None and x not in linked)
    for chunk in chunks(alone, _CHUNK):
        conn.execute(
            update(articles).where(articles.c.id.in_(chunk)).values(cluster_id=articles.c.id)
        )
    rest = {x: facts for x, facts in prior.items() if x not in set(alone)}
    if not linked and all(c == x for x, (_, _, c) in rest.items()):
        # The common case at ingest: every article was and stays alone.
        return DedupeResult(indexed, 0, frozenset(alone), frozenset(alone))
    prior_clusters = {c for _, _, c in rest.values() if c is not None}
    seeds = set(rest) | linked | _former_mates(conn, prior_clusters)
    merges, changed, affected = _recluster(conn, seeds, edges)
    return DedupeResult(indexed, merges, changed | set(alone), affected | set(alone))


def remove_articles(conn: Connection, article_ids: Sequence[int]) -> DedupeResult:
    """Forget deleted articles (call before deleting their rows): their clusters may split
    and get a new representative."""
    ids = sorted(set(article_ids))
    prior = _cluster_facts(conn, ids)
    neighbours = _drop_index(conn, ids)
    for chunk in chunks(ids, _CHUNK):
        conn.execute(update(articles).where(articles.c.id.in_(chunk)).values(cluster_id=None))
    prior_clusters = {c for _, _, c in prior.values() if c is not None}
    seeds = (neighbours | _former_mates(conn, prior_clusters)) - set(ids)
    _, changed, affected = _recluster(conn, seeds, ())
    gone = {c for c in prior_clusters if c in set(ids)}  # representatives that left
    return DedupeResult(0, 0, changed | frozenset(ids), affected | frozenset(gone))


def rebuild(conn: Connection, *, window: timedelta = DEFAULT_WINDOW) -> DedupeResult:
    """Recompute every feature, key, edge and cluster from ``articles`` (after a threshold
    change); gives the same clusters as incremental runs because the edge relation is
    symmetric and independent of arrival order."""
    for table in (dedupe_edges, dedupe_keys, dedupe_features):
        conn.execute(delete(table))
    all_ids = sorted(conn.scalars(select(articles.c.id)))
    indexed = 0
    for chunk in chunks(all_ids, 2000):
        n, _ = _index(conn, _load_articles(conn, chunk), window)
        indexed += n
    facts = _cluster_facts(conn, all_ids)
    edges = [(r.a, r.b) for r in conn.execute(select(dedupe_edges.c.a, dedupe_edges.c.b))]
    groups = components(facts, edges)
    changed, affected = _assign(conn, facts, groups)
    return DedupeResult(indexed, len(facts) - len(groups), changed, affected)


def list_clusters(conn: Connection) -> list[Cluster]:
    """Clusters with more than one member, newest representative first."""
    a, s = articles.c, sources.c
    multi = (
        select(a.cluster_id)
        .where(a.cluster_id.is_not(None))
        .group_by(a.cluster_id)
        .having(func.count() > 1)
    )
    rows = conn.execute(
        select(a.id, a.cluster_id, a.title, a.url, a.published, s.name, s.position)
        .join_from(articles, sources, a.source_id == s.id)
        .where(a.cluster_id.in_(multi))
    ).all()
    feats = _load_features(conn, (r.id for r in rows))
    grouped: dict[int, list[Any]] = {}
    for r in rows:
        grouped.setdefault(r.cluster_id, []).append(r)
    clusters: list[tuple[Any, Cluster]] = []
    for rep_id, group in grouped.items():
        group.sort(key=lambda r: (r.id != rep_id, r.published, r.position, r.id))
        rep_f = feats.get(rep_id)
        members = [
            Member(
                r.id, r.name, r.title, r.url,
                1.0 if r.id == rep_id or rep_f is None or r.id not in feats
                else round(similarity(rep_f, feats[r.id]), 3),
            )
            for r in group
        ]
        clusters.append((group[0].published, Cluster(rep_id, members)))
    clusters.sort(key=lambda pc: (pc[0], pc[1].representative_id), reverse=True)
    return [c for _, c in clusters]
