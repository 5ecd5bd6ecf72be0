"""Cross-source deduplication over the store: which stored articles are one story.

The decisions live here (which candidate pairs match, which clusters result and who
represents them); ``feedhub.store.dedupe`` holds the index and runs the SQL. Clusters are
the connected components of the verified pairs, so a deletion can split a cluster and an
incremental run gives what a rebuild gives.

The representative — carried as ``articles.cluster_id`` by every member — is the earliest
``published``, then ``sources.position`` (config order), then article id.

Every function runs inside the caller's transaction and commits nothing. The feature
extraction (numpy) loads on first use: a run where nothing changed must not pay for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import chain
from typing import Any

from sqlalchemy import Connection

from feedhub.dedupe.decide import (
    DEFAULT_WINDOW,
    Match,
    UnionFind,
    compare,
    components,
    representative,
    similarity,
)
from feedhub.model import DedupeFeatures as Features
from feedhub.store import dedupe as db
from feedhub.store.batch import chunks

_CHUNK = db.CHUNK


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


def _extract(row: Any, given: Mapping[int, Features] | None = None) -> Features:
    """Features of an article row; ``given`` ones (made beside the parse, ids unknown then)
    get the row's ids and stored ``published``."""
    from feedhub.dedupe.features import extract

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
        cands = db.candidates(conn, chunk)
        known = db.load_features(conn, {c for cs in cands.values() for c in cs})
        for f in chunk:
            for c in sorted(cands[f.article_id]):
                other = known.get(c)  # None: a stale key of an article deleted without us
                if other is not None:
                    consider(f, other)
    for group in _shared(feats):
        for i, f in enumerate(group):
            for other in group[i + 1 :]:
                consider(f, other)
    db.insert_features(conn, feats)
    db.insert_edges(conn, edges)
    return len(feats), edges


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
    db.set_cluster_ids(conn, updates)
    return frozenset(u["b_id"] for u in updates), frozenset(affected)


def _recluster(
    conn: Connection, seeds: set[int], new_edges: Iterable[tuple[int, int]]
) -> tuple[int, frozenset[int], frozenset[int]]:
    """Recompute the clusters that contain ``seeds``; returns (merges, changed, affected)."""
    members, edges = db.connected(conn, seeds)
    facts = db.cluster_facts(conn, members)  # drops ids whose article row is gone
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
    rows = db.load_articles(conn, ids, text=not features or any(i not in features for i in ids))
    prior = {r.id: (r.published, r.position, r.cluster_id) for r in rows}
    # An article without a cluster has no index entries (indexing gives it one; forgetting
    # clears it): a new article has nothing to forget, which saves a query per source. Ids
    # without a row are forgotten.
    unclustered = {i for i, (_, _, cluster) in prior.items() if cluster is None}
    old_neighbours = db.drop_index(conn, [i for i in ids if i not in unclustered])
    indexed, edges = _index(conn, rows, window, features)
    # New articles that found no copy (most of them) are alone: each becomes its own
    # representative — what _recluster would write — in one statement; only the others
    # go through the edge graph.
    linked = {x for pair in edges for x in pair} | old_neighbours
    alone = sorted(x for x, (_, _, c) in prior.items() if c is None and x not in linked)
    db.set_alone(conn, alone)
    rest = {x: facts for x, facts in prior.items() if x not in set(alone)}
    if not linked and all(c == x for x, (_, _, c) in rest.items()):
        # The common case at ingest: every article was and stays alone.
        return DedupeResult(indexed, 0, frozenset(alone), frozenset(alone))
    prior_clusters = {c for _, _, c in rest.values() if c is not None}
    seeds = set(rest) | linked | db.former_mates(conn, prior_clusters)
    merges, changed, affected = _recluster(conn, seeds, edges)
    return DedupeResult(indexed, merges, changed | set(alone), affected | set(alone))


def remove_articles(conn: Connection, article_ids: Sequence[int]) -> DedupeResult:
    """Forget deleted articles (call before deleting their rows): their clusters may split
    and get a new representative."""
    ids = sorted(set(article_ids))
    prior = db.cluster_facts(conn, ids)
    neighbours = db.drop_index(conn, ids)
    db.clear_clusters(conn, ids)
    prior_clusters = {c for _, _, c in prior.values() if c is not None}
    seeds = (neighbours | db.former_mates(conn, prior_clusters)) - set(ids)
    _, changed, affected = _recluster(conn, seeds, ())
    gone = {c for c in prior_clusters if c in set(ids)}  # representatives that left
    return DedupeResult(0, 0, changed | frozenset(ids), affected | frozenset(gone))


def rebuild(conn: Connection, *, window: timedelta = DEFAULT_WINDOW) -> DedupeResult:
    """Recompute every feature, key, edge and cluster from ``articles`` (after a threshold
    change); gives the same clusters as incremental runs because the edge relation is
    symmetric and independent of arrival order."""
    db.clear_index(conn)
    all_ids = db.article_ids(conn)
    indexed = 0
    for chunk in chunks(all_ids, 2000):
        n, _ = _index(conn, db.load_articles(conn, chunk), window)
        indexed += n
    facts = db.cluster_facts(conn, all_ids)
    edges = db.edge_pairs(conn)
    groups = components(facts, edges)
    changed, affected = _assign(conn, facts, groups)
    return DedupeResult(indexed, len(facts) - len(groups), changed, affected)


def list_clusters(conn: Connection) -> list[Cluster]:
    """Clusters with more than one member, newest representative first."""
    rows = db.multi_member_rows(conn)
    feats = db.load_features(conn, (r.id for r in rows))
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
