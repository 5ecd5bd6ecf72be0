"""A related run's text vectors in memory, so a box's ±window is one mask and one matmul.

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
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Connection

from feedhub.related import semantic
from feedhub.store import vectors as vdb

if TYPE_CHECKING:
    from numpy.typing import NDArray


class WindowIndex:
    """Every vector of one model: ids, dates (epoch s), token counts and a float32 matrix
    of unit rows (as `semantic.from_blobs` makes them), grown by doubling."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.loaded = False
        self._pos: dict[int, int] = {}
        self._size = 0
        self._ids = np.zeros(0, dtype=np.int64)
        self._published = np.zeros(0, dtype=np.int64)
        self._words = np.zeros(0, dtype=np.int64)
        self._matrix = np.zeros((0, semantic.DIMENSION), dtype=np.float32)

    def load(self, conn: Connection) -> None:
        """Read every vector of the model (once; later writes arrive through `put`)."""
        if not self.loaded:
            self.loaded = True
            self._put([(v.article_id, v.published, v.words, v.vec)
                       for v in vdb.all_vectors(conn, self.model)])

    def put(self, rows: Sequence[tuple[int, datetime, int, bytes]]) -> None:
        """Vectors just written to the store (ignored until loaded: the load reads them)."""
        if self.loaded:
            self._put([(i, vdb.epoch(p), w, blob) for i, p, w, blob in rows])

    def _put(self, rows: Sequence[tuple[int, int, int, bytes]]) -> None:
        if not rows:
            return
        matrix = semantic.from_blobs([r[3] for r in rows])
        fresh = [i for i, r in enumerate(rows) if r[0] not in self._pos]
        self._grow(self._size + len(fresh))
        for k, (article_id, published, words, _) in enumerate(rows):
            at = self._pos.get(article_id)
            if at is None:
                at = self._pos[article_id] = self._size
                self._size += 1
            self._ids[at], self._published[at], self._words[at] = article_id, published, words
            self._matrix[at] = matrix[k]

    def _grow(self, need: int) -> None:
        if need <= len(self._ids):
            return
        cap = max(need, 2 * len(self._ids), 1024)
        n = self._size
        for name in ("_ids", "_published", "_words", "_matrix"):
            old = getattr(self, name)
            new = np.zeros((cap, *old.shape[1:]), dtype=old.dtype)
            new[:n] = old[:n]
            setattr(self, name, new)

    def vector(self, article_id: int) -> tuple[NDArray[np.float32], int] | None:
        """An article's unit vector and token count, or None when it has none."""
        at = self._pos.get(article_id)
        return None if at is None else (self._matrix[at], int(self._words[at]))

    def between(
        self, start: datetime, end: datetime
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
        """Ids, token counts and rows of the articles published in [start, end], by id
        (the order `vdb.vectors_between` reads them in, so the matmul is the same)."""
        n = self._size
        published = self._published[:n]
        hit = np.flatnonzero((published >= vdb.epoch(start)) & (published <= vdb.epoch(end)))
        hit = hit[np.argsort(self._ids[hit], kind="stable")]
        return self._ids[hit], self._words[hit], self._matrix[hit]


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
    """The run's index, loaded through ``conn`` at first use; None outside a run."""
    index = _current.get()
    if index is None or index.model != semantic.model_id():
        return None
    index.load(conn)
    return index


def written(rows: Sequence[tuple[int, datetime, int, bytes]]) -> None:
    """Tell the run's index about vectors just written to the store."""
    index = _current.get()
    if index is not None:
        index.put(rows)
