"""The parse process pool, one kind for ``feedhub fetch`` and the service (issue 12).

Light on imports on purpose: ``feedhub fetch`` may fork it before it imports the rest of
the pipeline (``prestart``), so the workers load the parse stage while it does.

Two failures are told apart, so that a broken install is one error and not one per source:
- the parse stage cannot load in the workers (an import error): ``StageBroken``, raised by
  the first job and by every later one; the runner stops and says so once;
- a worker dies while parsing (a crash, the OOM killer): a ``ProcessPoolExecutor`` then fails
  every job in flight and never recovers. ``ParsePool.run`` starts new workers and retries
  each of those jobs alone, so only the job that kills a worker again fails (``WorkerDied``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger("feedhub.ingest")

T = TypeVar("T")


class StageBroken(RuntimeError):
    """The parse stage does not load (an import error): every parse would fail alike."""

    def __str__(self) -> str:
        return f"parse workers failed to start: {self.args[0]}"


class WorkerDied(RuntimeError):
    """A parse worker died parsing one job, and again when that job ran alone."""


def default_workers(workers: int | None = None) -> int:
    """Parse processes: one per CPU (at most 8) unless given."""
    return workers or max(1, min(os.cpu_count() or 1, 8))


def load_parse_stage() -> None:
    """Import what parsing and preparing articles need and install feedparser's fixes
    (each parse worker, at its start: one explicit call, not a side effect of an import)."""
    import feedhub.dedupe.features  # noqa: F401
    from feedhub.parse import install_fixes

    install_fixes()


def _reason(e: BaseException) -> str:
    return str(e) or type(e).__name__  # e.g. "No module named 'numpy'"


def ensure_parse_stage() -> None:
    """Load the parse stage in this process, or raise ``StageBroken`` saying why."""
    try:
        load_parse_stage()
    except Exception as e:
        raise StageBroken(_reason(e)) from None


_stage_error: str | None = None  # in a worker: why its parse stage did not load


def _start_worker(parent: int | None, background: bool) -> None:
    """Runs first in each worker. A failed import is kept for the first job to report:
    raised here, it would kill the worker and print a traceback per worker."""
    global _stage_error
    if background:  # the service's workers die with it and leave it the CPU
        from feedhub.process import die_with_parent, yield_cpu

        die_with_parent(parent)
        yield_cpu()
    try:
        load_parse_stage()
    except Exception as e:
        _stage_error = _reason(e)


def _checked(fn: Callable[..., T], *args: Any) -> T:
    """A job, in a worker whose parse stage loaded."""
    if _stage_error is not None:
        raise StageBroken(_stage_error)
    return fn(*args)


def parse_pool(
    workers: int | None = None, *, method: str = "fork", background: bool = False
) -> ProcessPoolExecutor:
    """A process pool for parsing. ``fork`` before any thread exists (aiohttp's resolver);
    ``forkserver`` once threads exist (forking them is unsafe).

    Each worker imports the parse stage itself (``initializer``) while this process goes on
    starting up, on the other core: imported here before the fork, its ~0.13 s was spent
    with every other core idle, at the start of every `feedhub fetch` that parses.
    """
    # The forkserver's children have the forkserver, not us, as parent: no parent check.
    parent = os.getpid() if method == "fork" else None
    return ProcessPoolExecutor(
        max_workers=default_workers(workers),
        mp_context=multiprocessing.get_context(method),
        initializer=_start_worker,
        initargs=(parent, background),
    )


class _Gate:
    """Jobs share the pool, except a retry, which has it alone (and goes first).

    Event-loop state only: no lock is awaited on the way out, so a cancelled job always
    gives its place back.
    """

    def __init__(self) -> None:
        import asyncio

        self._shared = 0
        self._alone = False
        self._queued = 0  # retries waiting: new shared jobs wait behind them
        self._changed = asyncio.Event()

    async def _until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            self._changed.clear()
            await self._changed.wait()

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        await self._until(lambda: not self._alone and not self._queued)
        self._shared += 1
        try:
            yield
        finally:
            self._shared -= 1
            self._changed.set()

    @asynccontextmanager
    async def alone(self) -> AsyncIterator[None]:
        self._queued += 1
        try:
            await self._until(lambda: not self._alone and not self._shared)
        finally:
            self._queued -= 1
            self._changed.set()
        self._alone = True
        try:
            yield
        finally:
            self._alone = False
            self._changed.set()


class ParsePool(Executor):
    """The parse workers, forked on demand: a run where every source answers 304 forks none.

    ``start()`` forks the workers now; the runner calls it before any thread exists when it
    expects to parse (a source never parsed yet). Otherwise the first job forks them. The
    workers only run pure parse code — no sockets, resolver or store — so the locks that
    the event loop's helper threads may hold at that moment are never needed in a child.

    ``background``: the service's workers (die with it, lower CPU priority). ``preload``:
    load the parse stage here before forking (the service: once, not once per worker), so a
    broken install is ``StageBroken`` from ``start()``.
    """

    def __init__(
        self, workers: int | None = None, *, background: bool = False, preload: bool = False
    ) -> None:
        self.workers = workers
        self.background = background
        self.preload = preload
        self._pool: ProcessPoolExecutor | None = None
        self._gate: tuple[asyncio.AbstractEventLoop, _Gate] | None = None

    def start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            if self.preload:
                ensure_parse_stage()
            self._pool = parse_pool(self.workers, background=self.background)
            # With the fork start method the executor forks all its workers on the first
            # submit (before its manager thread starts): do that now. Not waiting for the
            # result lets the workers import the parse stage meanwhile.
            self._pool.submit(int)
        return self._pool

    def renew(self, broken: ProcessPoolExecutor) -> None:
        """New workers, if the pool is still ``broken`` (a broken executor never recovers).

        forkserver, not fork: threads exist by now.
        """
        if self._pool is not broken:
            return  # another job renewed it already
        log.warning("a parse worker died; starting new parse workers")
        broken.shutdown(wait=False, cancel_futures=True)
        self._pool = parse_pool(self.workers, method="forkserver", background=self.background)

    def processes(self) -> list[BaseProcess]:
        """The live worker processes (for a kill at a stop deadline)."""
        # Private, but the only handle to the workers: shutdown() alone has no time bound.
        return list((getattr(self._pool, "_processes", None) or {}).values())

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker; see the module docstring for the two failures."""
        import asyncio  # here: `fetch` forks the pool before it imports asyncio

        loop = asyncio.get_running_loop()
        if self._gate is None or self._gate[0] is not loop:
            self._gate = (loop, _Gate())
        gate = self._gate[1]
        async with gate.shared():
            pool = self.start()
            try:
                return await loop.run_in_executor(pool, _checked, fn, *args)
            except BrokenProcessPool:
                pass  # this job or another killed a worker: find out alone
        async with gate.alone():
            self.renew(pool)
            pool = self.start()
            try:
                return await loop.run_in_executor(pool, _checked, fn, *args)
            except BrokenProcessPool:
                self.renew(pool)
                raise WorkerDied("the parse worker died, also parsing it alone") from None

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return self.start().submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def prestart(store_url: str, workers: int | None = None) -> ParsePool | None:
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
    pool = ParsePool(workers)
    pool.start()
    return pool
