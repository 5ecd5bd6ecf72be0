"""The parse process pool: forked when a run has bodies to parse, before any thread exists.

Light on imports on purpose: ``feedhub fetch`` may fork it before it imports the rest of
the pipeline (``prestart``), so the workers load the parse stage while it does.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path


def default_workers(workers: int | None = None) -> int:
    """Parse processes: one per CPU (at most 8) unless given."""
    return workers or max(1, min(os.cpu_count() or 1, 8))


def _start_worker() -> None:
    from feedhub.ingest.worker import load_parse_stage

    load_parse_stage()


def parse_pool(workers: int | None = None) -> Executor:
    """A process pool for parsing, forked before any thread exists (aiohttp's resolver).

    Each worker imports the parse stage itself (``initializer``) while this process goes on
    starting up, on the other core: imported here before the fork, its ~0.13 s was spent
    with every other core idle, at the start of every `feedhub fetch` that parses.
    """
    return ProcessPoolExecutor(
        max_workers=default_workers(workers),
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_worker,
    )


class LazyPool(Executor):
    """A parse pool forked on demand: a run where every source answers 304 forks none.

    ``start()`` forks the workers now; the runner calls it before any thread exists when it
    expects to parse (a source never parsed yet). Otherwise the first ``submit`` forks
    them. The workers only run pure parse code — no sockets, resolver or store — so the
    locks that the event loop's helper threads may hold at that moment are never needed
    in a child.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers
        self._pool: Executor | None = None

    def start(self) -> Executor:
        if self._pool is None:
            self._pool = parse_pool(self.workers)
            # With the fork start method the executor forks all its workers on the first
            # submit (before its manager thread starts): do that now. Not waiting for the
            # result lets the workers import the parse stage meanwhile.
            self._pool.submit(int)
        return self._pool

    def submit(self, fn: Callable[..., object], /, *args: object, **kwargs: object) -> Future:
        return self.start().submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def prestart(store_url: str, workers: int | None = None) -> LazyPool | None:
    """A pool forked now when the store is a SQLite file that does not exist yet.

    A new store means every source will be parsed. Forked before the command imports
    SQLAlchemy, aiohttp and the rest (~0.3 s), the workers have the parse stage loaded when
    the first bodies arrive; forked after, the first parse waited ~0.2 s for those imports
    (benchmarks/ingest.py: the first ingest of 200 feeds). Otherwise None: the runner forks
    when it knows a body needs parsing.
    """
    if default_workers(workers) < 2 or not store_url.startswith("sqlite:///"):
        return None
    path = store_url.removeprefix("sqlite:///")
    if not path or path == ":memory:" or Path(path).exists():
        return None
    pool = LazyPool(workers)
    pool.start()
    return pool
