"""A related run's text vectors in memory, so a box's ±window is one slice and one matmul.

Reading the window's vectors from SQL for every box read ~10k blobs per article at 10k
stored articles (a first publish of 10k did not finish in 30 minutes). A run — the
publisher's pass over the related queue, or a benchmark's loop — enters `window_index()`;
the first box computed in it loads every vector of the current model with one SELECT, and
the vector writes made in the run (`feedhub.related.vectors`) keep it current. Outside a
run `active()` is None and boxes read the store as before: both give the same boxes.

Vectors written by another process during a run (a running service's ingest) are not
seen: those articles are queued, and the next run indexes them and rescores their pairs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Connection

from feedhub.related import semantic
from feedhub.related.postings import TermPostings
from feedhub.store import vectors as vdb

if TYPE_CHECKING:
    from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class Block:
    """Rows of a window: ids, token counts, dates (epoch s) and unit vectors (float32),
    aligned. ``rows`` may be a view into the index (not copied)."""

    ids: NDArray[np.int64]
    words: NDArray[np.int64]
    published: NDArray[np.int64]
    rows: NDArray[np.float32]


class WindowIndex:
    """The vectors of one model that a run's boxes look at, in two blocks: the main one
    sorted by date, so that a box's ±window is a slice of it (a view: at 100k articles
    copying a 90-day window's rows cost more than the product), and a tail of the vectors
    written since the last sort, scanned whole. Past TAIL_SHARE of the main block the tail
    is sorted in.

    Only the dates the run asks about are read: one interval, widened (by a quarter of the
    asked span each side) when a window falls outside it, plus single articles' own
    vectors. Reading every vector of the store made each publish O(store) in time and
    memory (issue 17: 100k vectors for a 2,000-article increment whose windows hold 9k).
    """

    TAIL_MIN = 1024
    TAIL_SHARE = 8

    def __init__(self, model: str) -> None:
        self.model = model
        self.loaded = False  # some vectors were read
        self.terms = TermPostings()  # the term index's postings, read per term at first use
        # article id → row: ≥ 0 in the main block, < 0 the tail's row ~value
        self._where: dict[int, int] = {}
        self._main = _Rows()
        self._alive = np.zeros(0, dtype=bool)  # main rows not replaced by a later write
        self._tail = _Rows()
        self._lo, self._hi = 0, -1  # the dates (epoch s) read so far; empty while lo > hi
        self._absent: set[int] = set()  # articles looked up that have no vector
        self._conn: Connection | None = None  # the connection of the run's current batch

    def bind(self, conn: Connection) -> None:
        """Read what is missing through ``conn`` (the run's current transaction)."""
        self._conn = conn

    def load(self, conn: Connection) -> None:
        """Read every vector of the model (a test's or a tool's whole index)."""
        self.bind(conn)
        self.loaded = True
        self._put([(v.article_id, v.published, v.words, v.vec)
                   for v in vdb.all_vectors(conn, self.model)])
        self._lo, self._hi = -(2**62), 2**62
        self._sort()

    def _cover(self, lo: int, hi: int) -> None:
        """Read the vectors published in [lo, hi] that are not held yet."""
        if self._lo <= lo and hi <= self._hi:
            return
        if self._conn is None:
            raise RuntimeError("window index used before bind()")
        margin = (hi - lo) // 4
        want_lo, want_hi = lo - margin, hi + margin
        if self._lo > self._hi:  # nothing read yet
            parts = [(want_lo, want_hi)]
            self._lo, self._hi = want_lo, want_hi
        else:
            parts = [p for p in ((want_lo, self._lo - 1), (self._hi + 1, want_hi)) if p[0] <= p[1]]
            self._lo, self._hi = min(self._lo, want_lo), max(self._hi, want_hi)
        self.loaded = True
        for a, b in parts:
            found = vdb.vectors_between(self._conn, _when(a), _when(b), self.model)
            self._put([(v.article_id, v.published, v.words, v.vec) for v in found])
        self._sort()

    def put(self, rows: Sequence[tuple[int, datetime, int, bytes]]) -> None:
        """Vectors just written to the store (ignored until loaded: a read finds them)."""
        if self.loaded:
            self._absent.difference_update(r[0] for r in rows)
            self._put([(i, vdb.epoch(p), w, blob) for i, p, w, blob in rows])
            self._sort_if_long()

    def _sort_if_long(self) -> None:
        if self._tail.size > max(self.TAIL_MIN, self._main.size // self.TAIL_SHARE):
            self._sort()

    def _put(self, rows: Sequence[tuple[int, int, int, bytes]]) -> None:
        if not rows:
            return
        matrix = semantic.from_blobs([r[3] for r in rows])
        for k, (article_id, published, words, _) in enumerate(rows):
            at = self._where.get(article_id)
            if at is not None and at >= 0:
                self._alive[at] = False  # replaced: the new version goes to the tail
                at = None
            if at is None:
                at = self._where[article_id] = ~self._tail.append()
            self._tail.set(~at, article_id, published, words, matrix[k])

    def _sort(self) -> None:
        """Merge the tail into the main block, by date then id."""
        main, tail = self._main, self._tail
        keep = np.flatnonzero(self._alive[: main.size])
        ids = np.concatenate([main.ids[keep], tail.ids[: tail.size]])
        published = np.concatenate([main.published[keep], tail.published[: tail.size]])
        order = np.lexsort((ids, published))
        merged = _Rows()
        merged.extend(
            ids[order],
            np.concatenate([main.words[keep], tail.words[: tail.size]])[order],
            published[order],
            np.concatenate([main.matrix[keep], tail.matrix[: tail.size]])[order],
        )
        self._main, self._tail = merged, _Rows()
        self._alive = np.ones(merged.size, dtype=bool)
        self._where = dict(zip(merged.ids[: merged.size].tolist(), range(merged.size),
                               strict=True))

    def prefetch(self, ids: Sequence[int]) -> None:
        """Read the vectors of ``ids`` not held yet in one query (a batch asks `vector` for
        each of its articles: one read each otherwise)."""
        wanted = [i for i in ids if i not in self._where and i not in self._absent]
        if not wanted or self._conn is None:
            return
        found = vdb.read_vectors(self._conn, wanted, self.model)
        self._absent.update(i for i in wanted if i not in found)
        if found:
            self.loaded = True
            self._put([(v.article_id, v.published, v.words, v.vec) for v in found.values()])
            self._sort_if_long()

    def vector(self, article_id: int) -> tuple[NDArray[np.float32], int] | None:
        """An article's unit vector and token count, or None when it has none."""
        at = self._where.get(article_id)
        if at is None:
            if article_id in self._absent or self._conn is None:
                return None
            found = vdb.read_vectors(self._conn, [article_id], self.model).get(article_id)
            if found is None:
                self._absent.add(article_id)
                return None
            self.loaded = True
            self._put([(article_id, found.published, found.words, found.vec)])
            at = self._where[article_id]
        block, row = (self._main, at) if at >= 0 else (self._tail, ~at)
        return block.matrix[row], int(block.words[row])

    def between(self, start: datetime, end: datetime) -> list[Block]:
        """The articles published in [start, end]: the main block's slice (a view, with the
        replaced rows left out) and the tail's rows in the window."""
        lo_at, hi_at = vdb.epoch(start), vdb.epoch(end)
        self._cover(lo_at, hi_at)
        main, tail = self._main, self._tail
        dates = main.published[: main.size]
        lo = int(np.searchsorted(dates, lo_at, side="left"))
        hi = int(np.searchsorted(dates, hi_at, side="right"))
        blocks = [Block(main.ids[lo:hi], main.words[lo:hi], dates[lo:hi], main.matrix[lo:hi])]
        alive = self._alive[lo:hi]
        if not alive.all():
            keep = np.flatnonzero(alive)
            b = blocks[0]
            blocks[0] = Block(b.ids[keep], b.words[keep], b.published[keep], b.rows[keep])
        if tail.size:
            dates = tail.published[: tail.size]
            hit = np.flatnonzero((dates >= lo_at) & (dates <= hi_at))
            blocks.append(Block(tail.ids[hit], tail.words[hit], dates[hit], tail.matrix[hit]))
        return blocks


class _Rows:
    """Growable aligned arrays (capacity doubles)."""

    def __init__(self) -> None:
        self.size = 0
        self.ids = np.zeros(0, dtype=np.int64)
        self.published = np.zeros(0, dtype=np.int64)
        self.words = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, semantic.DIMENSION), dtype=np.float32)

    def _grow(self, need: int) -> None:
        if need <= len(self.ids):
            return
        cap = max(need, 2 * len(self.ids), 1024)
        for name in ("ids", "published", "words", "matrix"):
            old = getattr(self, name)
            new = np.zeros((cap, *old.shape[1:]), dtype=old.dtype)
            new[: self.size] = old[: self.size]
            setattr(self, name, new)

    def append(self) -> int:
        self._grow(self.size + 1)
        self.size += 1
        return self.size - 1

    def set(self, row: int, article_id: int, published: int, words: int,
            vec: NDArray[np.float32]) -> None:
        self.ids[row], self.published[row], self.words[row] = article_id, published, words
        self.matrix[row] = vec

    def extend(self, ids: NDArray[np.int64], words: NDArray[np.int64],
               published: NDArray[np.int64], matrix: NDArray[np.float32]) -> None:
        n = len(ids)
        self._grow(self.size + n)
        at = slice(self.size, self.size + n)
        self.ids[at], self.words[at], self.published[at], self.matrix[at] = (
            ids, words, published, matrix)
        self.size += n


_current: ContextVar[WindowIndex | None] = ContextVar("related_window_index", default=None)


@contextmanager
def window_index() -> Iterator[WindowIndex | None]:
    """Hold a run's vectors in memory for the block (None inside without a model)."""
    model = semantic.model_id()
    token = _current.set(None if model is None else WindowIndex(model))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def active(conn: Connection) -> WindowIndex | None:
    """The run's index, reading what it lacks through ``conn``; None outside a run."""
    index = _current.get()
    if index is None or index.model != semantic.model_id():
        return None
    index.bind(conn)
    return index


def terms() -> TermPostings | None:
    """The run's term postings (kept current by `feedhub.related.update`); None outside."""
    index = _current.get()
    return None if index is None else index.terms


def written(rows: Sequence[tuple[int, datetime, int, bytes]]) -> None:
    """Tell the run's index about vectors just written to the store."""
    index = _current.get()
    if index is not None:
        index.put(rows)


def _when(epoch: int) -> datetime:
    return datetime.fromtimestamp(max(min(epoch, 253402300799), -62135596800), UTC)
