"""Pure merge decisions: is a candidate the same story, and which clusters result.

Evidence, strongest first (issue 4): the same canonical URL in two sources; the same
content fingerprint; near-duplicate text by exact Jaccard of shingle sets, or containment of
a teaser in its full article. The same guid in two sources is deliberately not evidence
(generic guids such as "1" or a date are common), and a shared headline alone is not either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy comes with the features; the store imports this module at start-up
    import numpy as np

    from feedhub.dedupe.features import Features

DEFAULT_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Verification thresholds (measured: Jaccard ≥ 0.5, containment ≥ 0.8 → P 0.998 R 0.99)."""

    jaccard: float = 0.5
    containment: float = 0.8
    # Tiny sets give noisy ratios: two stubs that share 4 of 5 shingles are no evidence.
    min_shingles: int = 12
    min_contained: int = 20


@dataclass(frozen=True, slots=True)
class Match:
    """Why two articles are one story: reason "url", "content", "near" or "contained"."""

    reason: str
    similarity: float


def overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Exact (Jaccard, containment of the smaller set in the larger) of two shingle sets."""
    import numpy as np

    if a.size == 0 or b.size == 0:
        return 0.0, 0.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter), inter / min(a.size, b.size)


def compare(
    a: Features, b: Features, *, window: timedelta = DEFAULT_WINDOW,
    thresholds: Thresholds = Thresholds(),
) -> Match | None:
    """The evidence that ``a`` and ``b`` are one story, or None to keep them apart."""
    # Across sources a canonical URL is identity whatever the dates say (a feed without
    # dates gets first-seen times). Within one source the guid is the identity: items of
    # one feed sharing a link (a live page, a briefing) are different items.
    if a.url_key is not None and a.url_key == b.url_key and a.source_id != b.source_id:
        return Match("url", 1.0)
    if abs(a.published - b.published) > window:
        return None
    if a.fingerprint is not None and a.fingerprint == b.fingerprint:
        return Match("content", 1.0)
    jaccard, containment = overlap(a.shingles, b.shingles)
    smaller = min(a.shingles.size, b.shingles.size)
    if jaccard >= thresholds.jaccard and smaller >= thresholds.min_shingles:
        return Match("near", jaccard)
    if containment >= thresholds.containment and smaller >= thresholds.min_contained:
        return Match("contained", containment)
    return None


def similarity(a: Features, b: Features) -> float:
    """A display score for two members of one cluster (1.0 for URL/content identity)."""
    match = compare(a, b, window=timedelta.max)
    if match is not None:
        return match.similarity
    return overlap(a.shingles, b.shingles)[0]


class UnionFind:
    """Disjoint sets over hashable ids (path halving, union by size)."""

    def __init__(self) -> None:
        self._parent: dict[int, int] = {}
        self._size: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self._parent
        if x not in parent:
            parent[x] = x
            self._size[x] = 1
            return x
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> bool:
        """Join the sets of a and b; True when they were apart (a merge happened)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if self._size[ra] < self._size[rb]:
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._size[ra] += self._size[rb]
        return True

    def groups(self) -> list[list[int]]:
        """Every set seen so far, each sorted."""
        out: dict[int, list[int]] = {}
        for x in list(self._parent):
            out.setdefault(self.find(x), []).append(x)
        return [sorted(g) for g in out.values()]


def components(ids: Iterable[int], edges: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Connected components (each sorted) of ``ids`` under ``edges``."""
    uf = UnionFind()
    for x in ids:
        uf.find(x)
    for a, b in edges:
        uf.union(a, b)
    return uf.groups()


def representative(members: Iterable[tuple[datetime, int, int]]) -> int:
    """The cluster's representative from (published, source position, article id) triples:
    earliest published, then source order in the config, then the lower id (stable)."""
    return min(members)[2]
