"""A related run's term postings in memory: a new article's lexical scores without SQL.

The term-index query (`feedhub.store.related.lexical_scores`: one index range scan per term
of the article's vector, summed in the database) was the largest part of a new article's
box: 8 of 16 ms at 10k stored articles of news-like text on SQLite (issue 14's target is
< 10 ms at 100k). Inside a run (`feedhub.related.window.window_index`) the postings of each
term are read once, sorted by date, and a box's ±window is a slice per term: the sum is a
`bincount` over a few thousand postings.

Kept current by the run's own writes (`indexed`, `unindexed`, `cleared`); only the related
run writes the term index, so nothing else can make it stale. A term's postings are dropped
when an article that has the term leaves the index (read again at next use), and the least
recently used terms are dropped past ``BUDGET`` postings, so memory stays bounded however
large the store is.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Connection

from feedhub.store import related as db
from feedhub.store import vectors as vdb

if TYPE_CHECKING:
    from numpy.typing import NDArray

# ~24 bytes a posting: 2M postings are ~48 MB, the terms of ~30k articles' vectors.
BUDGET = 2_000_000


@dataclass(slots=True)
class _Term:
    """One term's postings published in [lo, hi] sorted by date, plus those the run added
    since (merged in at next use)."""

    lo: int
    hi: int
    published: NDArray[np.int64]
    ids: NDArray[np.int64]
    weights: NDArray[np.float64]
    added: list[tuple[int, int, float]] = field(default_factory=list)

    def merged(self) -> _Term:
        if self.added:
            pub, ids, w = (np.asarray(x) for x in zip(*self.added, strict=True))
            published = np.concatenate([self.published, pub.astype(np.int64)])
            article = np.concatenate([self.ids, ids.astype(np.int64)])
            weights = np.concatenate([self.weights, w.astype(np.float64)])
            # Only the dates need order (a window is a slice by date; a term lists an article
            # once, so no sum depends on the order within a date). New articles are mostly
            # the newest, so the common case is sorted already.
            newest = self.published[-1] if len(self.published) else pub[0]
            if pub[0] < newest or (len(pub) > 1 and (np.diff(pub) < 0).any()):
                order = np.argsort(published, kind="stable")
                published, article, weights = published[order], article[order], weights[order]
            self.published, self.ids, self.weights = published, article, weights
            self.added = []
        return self

    @property
    def size(self) -> int:
        return len(self.ids) + len(self.added)


class TermPostings:
    """The postings of the terms a run looked up (LRU, at most ``budget`` postings)."""

    def __init__(self, budget: int = BUDGET) -> None:
        self.budget = budget
        self._terms: OrderedDict[str, _Term] = OrderedDict()
        self._size = 0

    def scores(
        self,
        conn: Connection,
        vector: Mapping[str, float],
        start: datetime,
        end: datetime,
        min_score: float,
    ) -> tuple[list[int], list[float]]:
        """`feedhub.store.related.lexical_scores`, from memory: the indexed articles in
        [start, end] whose dot product with ``vector`` is ≥ min_score, as (ids, scores)."""
        if not vector:
            return [], []
        lo_at, hi_at = vdb.epoch(start), vdb.epoch(end)
        self._load(conn, [t for t in vector if not self._covers(t, lo_at, hi_at)], lo_at, hi_at)
        ids: list[NDArray[np.int64]] = []
        parts: list[NDArray[np.float64]] = []
        for term, weight in vector.items():
            found = self._terms.get(term)
            if found is None:
                continue
            self._terms.move_to_end(term)
            posting = found.merged() if found.added else found  # a call per term counts
            lo = int(np.searchsorted(posting.published, lo_at, side="left"))
            hi = int(np.searchsorted(posting.published, hi_at, side="right"))
            if hi > lo:
                ids.append(posting.ids[lo:hi])
                parts.append(posting.weights[lo:hi] * weight)  # as the SQL sums weight * w
        self._trim()
        if not ids:
            return [], []
        return _summed(np.concatenate(ids), np.concatenate(parts), min_score)

    def indexed(self, rows: Iterable[tuple[int, datetime, Mapping[str, float]]]) -> None:
        """Postings just written (article id, published, term vector)."""
        for article_id, published, vector in rows:
            when = vdb.epoch(published)
            for term, weight in vector.items():
                found = self._terms.get(term)
                if found is not None and found.lo <= when <= found.hi:
                    found.added.append((when, article_id, weight))
                    self._size += 1

    def unindexed(self, terms: Iterable[str]) -> None:
        """An article with these terms left the index: read those terms again at next use."""
        for term in terms:
            found = self._terms.pop(term, None)
            if found is not None:
                self._size -= found.size

    def cleared(self) -> None:
        """Many articles left the index at once (a re-freeze, a rebuild): start over."""
        self._terms.clear()
        self._size = 0

    def _covers(self, term: str, lo: int, hi: int) -> bool:
        found = self._terms.get(term)
        return found is not None and found.lo <= lo and hi <= found.hi

    def _load(self, conn: Connection, terms: list[str], lo: int, hi: int) -> None:
        """Read the terms' postings over the window [lo, hi] with a margin (what the next
        articles' windows need), or the part a held term lacks. Not the whole store: at
        100k articles a common term's postings outside a 90-day window are most of them.

        The margin is wide ahead (half the span: a first publish moves forward in time, and
        past the newest article there is nothing to read) and narrow behind (an eighth:
        new articles are the newest, so rows further back were read for nothing — a
        quarter of the rows at 100k, issue 14). A window that reaches further back reads
        only the slice it lacks."""
        if not terms:
            return
        span = hi - lo
        want_lo, want_hi = lo - span // 8, hi + span // 2
        slices: dict[tuple[int, int], list[str]] = {}
        for term in terms:
            held = self._terms.get(term)
            if held is None:
                slices.setdefault((want_lo, want_hi), []).append(term)
                continue
            if want_lo < held.lo:
                slices.setdefault((want_lo, held.lo - 1), []).append(term)
            if held.hi < want_hi:
                slices.setdefault((held.hi + 1, want_hi), []).append(term)
        for (a, b), group in slices.items():
            for term, (published, ids, weights) in db.term_postings(conn, group, a, b).items():
                held = self._terms.get(term)
                if held is None:
                    self._terms[term] = _Term(a, b, published, ids, weights)
                    self._size += len(ids)
                    continue
                held.merged()
                before = b < held.lo  # the slice lies before what is held, else after it
                parts = [(published, ids, weights), (held.published, held.ids, held.weights)]
                if not before:
                    parts.reverse()
                held.published = np.concatenate([p[0] for p in parts])
                held.ids = np.concatenate([p[1] for p in parts])
                held.weights = np.concatenate([p[2] for p in parts])
                held.lo, held.hi = min(held.lo, a), max(held.hi, b)
                self._size += len(ids)

    def _trim(self) -> None:
        while self._size > self.budget and len(self._terms) > 1:
            _, dropped = self._terms.popitem(last=False)
            self._size -= dropped.size


def _summed(
    ids: NDArray[np.int64], weights: NDArray[np.float64], min_score: float
) -> tuple[list[int], list[float]]:
    """Each id's sum of ``weights``, added in the order given (term by term in the vector's
    order, as the query's UNION ALL delivers them, so the floats are the query's), kept
    where ≥ min_score; ids ascending.

    A window's ids are close together (ids grow with arrival, windows are by date), so the
    sums are one `bincount` over the id span; `np.unique`'s sort cost a fifth of a new
    article's lexical scores (issue 14). Ids spread wider than that are sorted instead."""
    if not len(ids):
        return [], []
    base = int(ids.min())
    span = int(ids.max()) - base + 1
    if span > 8 * len(ids) + 4096:
        unique, where = np.unique(ids, return_inverse=True)
        sums = np.bincount(where, weights=weights)
        keep = sums >= min_score
        return unique[keep].tolist(), sums[keep].tolist()
    offsets = ids - base
    sums = np.bincount(offsets, weights=weights, minlength=span)
    present = np.bincount(offsets, minlength=span) > 0
    keep = np.flatnonzero(present & (sums >= min_score))
    return (keep + base).tolist(), sums[keep].tolist()
