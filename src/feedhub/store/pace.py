"""Sizing write transactions by time, so a long job never holds the store's write lock long.

SQLite has one writer at a time. A publish that re-weighs thousands of articles in one
transaction made a running service's fetches wait for it (soak benchmark: p99 lateness
14.5 s), so long jobs run as batches whose size adapts to take about ``budget`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection

T = TypeVar("T")


# The share of the budget a batch aims at: a batch that runs a little slower than the one
# before it still ends within the budget.
AIM = 0.8


@dataclass(slots=True)
class Pacer:
    """Adaptive batch size: the next batch is sized from the last one's pace to take about
    ``AIM`` × ``budget``, at most halving or doubling per step."""

    budget: float = 0.2  # seconds one write transaction should take
    pause: float = 0.0  # seconds of gap after each, so waiting writers get their turn
    batch: int = 8
    max_batch: int = 500

    def record(self, took: float) -> None:
        """Adjust the next batch size after a transaction of ``took`` seconds; pause."""
        if self.pause:
            # SQLite's busy handler polls with backoff: a waiting writer only gets the
            # lock if it is free when it looks again, so leave it a real gap.
            time.sleep(self.pause)
        # Proportional, not halve-or-double on thresholds: that left a batch anywhere in
        # [budget/4, budget] of work, and at ~8 ms per new article a publish's related
        # batches stayed at 8 articles, a commit each (a sixth of the run; issue 17).
        fit = self.batch * AIM * self.budget / took if took > 0 else self.max_batch
        self.batch = max(1, self.batch // 2, min(int(fit), self.batch * 2, self.max_batch))

    def run(
        self,
        items: Sequence[T],
        write: Callable[[], AbstractContextManager[Connection]],
        work: Callable[[Connection, Sequence[T]], object],
        on_commit: Callable[[int], object] | None = None,
    ) -> None:
        """Call ``work`` on consecutive batches of ``items``, one write transaction each;
        ``on_commit`` gets each batch's size once it is committed."""
        i = 0
        while i < len(items):
            part = items[i : i + self.batch]
            started = time.perf_counter()
            with write() as conn:
                work(conn, part)
            i += len(part)
            if on_commit is not None:
                on_commit(len(part))
            self.record(time.perf_counter() - started)
