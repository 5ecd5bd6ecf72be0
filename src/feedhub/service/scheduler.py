"""The service's clock: a due-time loop that starts each due source as its own task, and
debounced publishing (APScheduler).

Which source is due is decided from ``sources.next_due`` in the store (written by the ingest
stage after each fetch), so a restart (or a second worker) picks up the schedule where it
was, with no stampede.

Why a loop of our own and not an APScheduler interval job (a soak run of 1,000 sources at
5–15 s intervals measured both problems): a periodic sweep only notices a due source at the
next sweep (lateness up to the sweep interval by design), and a sweep that waits for all of
its fetches lets one slow source hold back every other source (APScheduler runs one sweep at
a time). Here the loop looks at the store (one indexed query) when the earliest source falls
due — at least every ``MIN_WAIT`` and at most ``max_wait`` seconds apart — and starts every due
source that is not already in flight as a task of its own, bounded by ``fetch.concurrency``.
A source is never fetched twice at once (the in-flight set). The sources table is synced
with the config only at start-up and on SIGHUP, not on every look.

Publishing waits for a quiet moment after the last change (debounce) so a burst of updated
sources costs one publish, not one each. Retention runs daily.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, or_, select

from feedhub.config import Config, Source
from feedhub.fetch import HttpFetcher
from feedhub.ingest.run import Ingester, SourceReport
from feedhub.model import SourceInfo
from feedhub.retention import prune
from feedhub.service.gate import background
from feedhub.service.reload import reload_config
from feedhub.service.state import ServiceState
from feedhub.service.workers import new_pool
from feedhub.store import Store
from feedhub.store.schema import sources
from feedhub.store.sources import source_infos
from feedhub.wiring import fetch_settings

if TYPE_CHECKING:  # imported lazily at run time: publishing is optional for a sweep
    from feedhub.publish.run import PublishReport

log = logging.getLogger("feedhub.service")
fetch_log = logging.getLogger("feedhub.fetch")

Publisher = Callable[[Config, Store], "PublishReport"]
T = TypeVar("T")

MAX_WAIT = 1.0  # default longest pause between looks at the store for due sources
MIN_WAIT = 0.2  # shortest pause: sources falling due within it are started together
PUBLISH_DELAY = 2.0  # quiet seconds after the last change before publishing
RETENTION_EVERY_HOURS = 24
PUBLISH_MAX_DELAY = 30.0  # a steady trickle of changes must not postpone publishing forever
PUBLISH_RETRY = 30.0  # after a failed publish (disk full, …), try again this much later
MAX_LOGGED_PATHS = 20  # a first publish writes hundreds of files: keep its log line short
SUMMARY_EVERY = 60.0  # seconds between "fetched N sources" summary lines
ERRORS_EVERY = 5.0  # at most this often, recount the sources in error after failures
CRASH_HOLD = 30.0  # a source whose ingest raised is left alone this long (no hot retry loop)
LOOK_RETRY = 5.0  # after a failed look at the store (store gone), look again this much later


def default_sweep_interval(config: Config) -> float:
    """The longest pause between looks at the store: ``MAX_WAIT`` (1 s).

    The loop wakes earlier when a source falls due sooner; this cap only bounds how long
    a change made behind the service's back (another worker, a manual edit) goes unseen.
    """
    return MAX_WAIT


@dataclass
class _Generation:
    """What fetching needs under one config: its ingester, an open fetcher and the
    concurrency cap. A reload starts a new one; the old one closes after its last fetch."""

    config: Config
    ingester: Ingester
    fetcher: HttpFetcher
    slots: asyncio.Semaphore
    tasks: set[asyncio.Task[SourceReport | None]] = field(default_factory=set)


@dataclass
class _Tally:
    """Fetch outcomes since the last summary line."""

    fetched: int = 0
    changed: int = 0
    failed: int = 0
    since: float = field(default_factory=time.monotonic)


class Scheduler:
    """Runs the due-time loop and publishes on an AsyncIOScheduler; ``sweep``/``publish``
    also run alone (``feedhub run --once``)."""

    def __init__(
        self,
        state: ServiceState,
        store: Store,
        pool: Executor | None,
        *,
        publisher: Publisher | None,
        sweep_interval: float | None = None,
        publish_delay: float = PUBLISH_DELAY,
    ) -> None:
        self.state = state
        self.store = store
        self.pool = pool
        self.publisher = publisher
        self.fixed_sweep = sweep_interval
        self.publish_delay = publish_delay
        self.state.sweep_interval = sweep_interval or default_sweep_interval(state.config)
        self._aps: AsyncIOScheduler | None = None
        self._publish_lock = asyncio.Lock()
        self._dirty_since: float | None = None
        self._publish_queued = False  # a publish waits for the running one to finish
        self._publish_task: asyncio.Task[object] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._gen: _Generation | None = None
        self._old_gens: set[asyncio.Task[None]] = set()
        self._resync = True  # sync the sources table with the config before the next look
        self._in_flight: dict[str, asyncio.Task[SourceReport | None]] = {}
        self._finished: dict[str, float] = {}  # name → monotonic time its last ingest ended
        self._held: dict[str, float] = {}  # name → monotonic time until which it is skipped
        self._tally = _Tally()
        self._next_wait = MAX_WAIT
        self._stopping = False
        self._errors_dirty = False
        self._errors_counted = 0.0

    # -- work ---------------------------------------------------------------------------

    async def sweep(self) -> list[SourceReport]:
        """Ingest every due source once and wait for all of them (``--once``)."""
        await self._ensure_synced()
        self.state.heartbeat()
        started = await self._start_due()
        results = await asyncio.gather(*started)
        reports = [r for r in results if r is not None]
        self.state.heartbeat()
        self.state.metrics.sweeps.inc()
        self.state.metrics.last_sweep.set(time.time())
        if reports:
            changed = sum(1 for r in reports if r.new or r.updated or r.removed)
            errors = sum(1 for r in reports if r.error)
            log.info(
                "sweep: %d sources fetched, %d changed, %d failed", len(reports), changed, errors,
                extra={"fields": {"fetched": len(reports), "changed": changed, "failed": errors}},
            )
            await self.count_sources_in_error()
        return reports

    async def publish(self) -> PublishReport | None:
        """Publish every topic now (in a thread: rendering must not stall serving)."""
        if self.publisher is None:
            return None
        self._publish_queued = True
        try:
            await self._publish_lock.acquire()
        finally:
            self._publish_queued = False
        try:
            self._dirty_since = None  # changes from here on schedule another publish
            started = time.perf_counter()
            try:
                report = await _in_daemon_thread(
                    _in_background, self.publisher, self.state.config, self.store
                )
            except Exception as e:
                seconds = time.perf_counter() - started
                self.state.metrics.observe_publish(seconds, ok=False)
                log.error("publish failed after %.2fs: %s", seconds, _one_line(e))
                if self._aps is not None:
                    self.publish_soon(PUBLISH_RETRY)
                return None
            seconds = time.perf_counter() - started
            self.state.metrics.observe_publish(seconds, ok=True)
            log.info(
                "published %d topics: %d files written, %d unchanged in %.2fs",
                report.topics, report.written, report.unchanged, seconds,
                extra={"fields": {"topics": report.topics, "written": report.written,
                                  "unchanged": report.unchanged, "duration": round(seconds, 3),
                                  "changed_paths": list(report.changed_paths[:MAX_LOGGED_PATHS])}},
            )
            return report
        finally:
            self._publish_lock.release()

    async def retention(self) -> int:
        """Delete expired articles (daily); publish if any went."""
        try:
            n = await _in_daemon_thread(
                _in_background, prune, self.state.config, self.store, datetime.now(UTC)
            )
        except Exception as e:
            log.error("retention failed: %s", _one_line(e))
            return 0
        if n:
            log.info("retention: deleted %d articles", n, extra={"fields": {"deleted": n}})
            self.publish_soon()
        return n

    async def _retention_job(self) -> None:
        await self.retention()

    async def count_sources_in_error(self) -> None:
        """Set the sources-in-error gauge from the store (true across restarts)."""

        def count() -> int:
            with self.store.read() as conn:
                q = select(func.count()).where(sources.c.enabled, sources.c.last_error.is_not(None))
                return int(conn.execute(q).scalar() or 0)

        self._errors_dirty = False
        self._errors_counted = time.monotonic()
        try:
            self.state.metrics.sources_in_error.set(await asyncio.to_thread(count))
        except Exception as e:  # a metric must never break the scheduler
            log.warning("cannot count sources in error: %s", _one_line(e))

    # -- sources: sync, look, start -----------------------------------------------------

    async def _ensure_synced(self) -> _Generation:
        """Sync the sources table with the config (start-up, SIGHUP) and open a fetcher
        for it; a no-op between reloads."""
        if not self._resync and self._gen is not None:
            return self._gen
        config = self.state.config
        ingester = Ingester(config, self.store, pool=self.pool)
        await asyncio.to_thread(ingester.sync)
        self._resync = self.state.config is not config  # reloaded meanwhile: again
        fetcher = HttpFetcher(fetch_settings(config))
        await fetcher.__aenter__()
        old, self._gen = self._gen, _Generation(
            config, ingester, fetcher, asyncio.Semaphore(config.file.fetch.concurrency)
        )
        if old is not None:
            task = asyncio.create_task(self._retire(old))
            self._old_gens.add(task)
            task.add_done_callback(self._old_gens.discard)
        return self._gen

    async def _retire(self, gen: _Generation) -> None:
        """Close a replaced generation's fetcher once its in-flight fetches are done."""
        try:
            if gen.tasks:
                await asyncio.wait(set(gen.tasks))
        finally:
            await gen.fetcher.close()

    def _look(
        self, now: datetime, horizon: datetime, skip: frozenset[str]
    ) -> tuple[list[SourceInfo], datetime | None]:
        """(due sources not in ``skip``, oldest due first; the next due time up to
        ``horizon``). Runs in a thread: two indexed queries."""
        with self.store.read() as conn:
            rows = conn.execute(
                select(sources.c.name, sources.c.next_due)
                .where(
                    sources.c.enabled,
                    or_(sources.c.next_due.is_(None), sources.c.next_due <= horizon),
                )
                .order_by(sources.c.next_due)
            ).all()
            due: dict[str, int] = {}
            upcoming: datetime | None = None
            for name, next_due in rows:
                if next_due is None or next_due <= now:
                    if name not in skip:
                        due[name] = len(due)
                elif upcoming is None:
                    upcoming = next_due
            infos = source_infos(conn, list(due)) if due else []
        infos.sort(key=lambda i: due[i.name])
        return infos, upcoming

    async def _start_due(self) -> list[asyncio.Task[SourceReport | None]]:
        """Start a task for every due source not already in flight; schedule the next look."""
        gen = await self._ensure_synced()
        mono = time.monotonic()
        now = gen.ingester.clock()
        wait = self.state.sweep_interval
        horizon = now + timedelta(seconds=wait)
        self._held = {n: t for n, t in self._held.items() if t > mono}
        skip = frozenset(self._in_flight) | frozenset(self._held)
        infos, upcoming = await asyncio.to_thread(self._look, now, horizon, skip)
        if upcoming is not None:
            wait = (upcoming - gen.ingester.clock()).total_seconds()
        self._next_wait = min(self.state.sweep_interval, max(MIN_WAIT, wait))
        by_name = {s.name: s for s in gen.config.sources}
        started = []
        for info in infos:
            src = by_name.get(info.name)
            if src is None or info.name in self._in_flight:
                continue  # removed from the config (synced at the next look)
            if self._finished.get(info.name, 0.0) >= mono:
                continue  # finished while we looked: the snapshot may predate its commit
            started.append(self._start(gen, info, src))
        self._finished = {n: t for n, t in self._finished.items() if t >= mono}
        return started

    def _start(
        self, gen: _Generation, info: SourceInfo, src: Source
    ) -> asyncio.Task[SourceReport | None]:
        task = asyncio.create_task(self._ingest(gen, info, src), name=f"ingest {src.name}")
        self._in_flight[src.name] = task
        gen.tasks.add(task)

        def done(t: asyncio.Task[SourceReport | None]) -> None:
            gen.tasks.discard(t)
            if self._in_flight.get(src.name) is t:
                del self._in_flight[src.name]
            self._finished[src.name] = time.monotonic()

        task.add_done_callback(done)
        return task

    async def _ingest(self, gen: _Generation, info: SourceInfo, src: Source) -> SourceReport | None:
        """One source through fetch → parse → store; its fetch within the concurrency cap."""
        if self._stopping:
            return None  # a stop came first: leave it for the restart
        try:
            # Ingester's per-source step (``Ingester.run`` would also re-sync every
            # source from the config, 1,000 UPDATEs per call, and wait for all).
            report = await gen.ingester.ingest_one(gen.fetcher, info, src, gen.slots)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._held[src.name] = time.monotonic() + CRASH_HOLD
            log.exception("ingest of %s failed; retrying in %gs", src.name, CRASH_HOLD)
            return None
        if report.error or info.last_error is not None:
            self._errors_dirty = True  # an error appeared, or may have cleared
        self._on_done(report)
        return report

    # -- clock --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the due-time loop (first look now). Call from inside the running loop."""
        self._aps = AsyncIOScheduler(timezone=UTC)
        self._aps.add_job(
            self._retention_job, "interval", hours=RETENTION_EVERY_HOURS, id="retention",
            max_instances=1, coalesce=True, misfire_grace_time=None,
            next_run_time=datetime.now(UTC) + timedelta(minutes=1),
        )
        self._aps.start()
        self._loop_task = asyncio.create_task(self._run_loop(), name="scheduler loop")
        self.state.scheduler_running = True
        log.info(
            "scheduler started: looking for due sources at least every %gs",
            self.state.sweep_interval,
        )

    async def _run_loop(self) -> None:
        while True:
            self._next_wait = LOOK_RETRY
            try:
                self.state.heartbeat()
                await self._start_due()
                self.state.metrics.sweeps.inc()
                self.state.metrics.last_sweep.set(time.time())
                self.state.last_sweep_end = time.monotonic()
                self._check_pool()
                await self._housekeeping()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the next look tries again; the service stays up
                log.error("looking for due sources failed: %s", _one_line(e))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._next_wait)

    async def _housekeeping(self) -> None:
        """The periodic summary line and the sources-in-error gauge."""
        now = time.monotonic()
        if self._errors_dirty and now - self._errors_counted >= ERRORS_EVERY:
            await self.count_sources_in_error()
        t = self._tally
        if now - t.since >= SUMMARY_EVERY:
            if t.fetched:
                log.info(
                    "last %.0fs: %d sources fetched, %d changed, %d failed; %d in flight",
                    now - t.since, t.fetched, t.changed, t.failed, len(self._in_flight),
                    extra={"fields": {"fetched": t.fetched, "changed": t.changed,
                                      "failed": t.failed, "in_flight": len(self._in_flight)}},
                )
            self._tally = _Tally(since=now)

    def publish_soon(self, delay: float | None = None) -> None:
        """(Re)arm the debounced publish: ``delay`` after now, but no later than
        PUBLISH_MAX_DELAY after the first unpublished change."""
        if self._aps is None or self._publish_queued:
            return  # a publish that has not started yet will include this change
        now = time.monotonic()
        if self._dirty_since is None:
            self._dirty_since = now
        wait = self.publish_delay if delay is None else delay
        wait = min(wait, max(0.0, self._dirty_since + max(PUBLISH_MAX_DELAY, wait) - now))
        self._aps.add_job(
            self._publish_job, "date", run_date=datetime.now(UTC) + timedelta(seconds=wait),
            id="publish", replace_existing=True, misfire_grace_time=None,
            # 2: a publish armed while one runs must wait on the lock, not be dropped.
            max_instances=2,
        )

    def reload(self) -> None:
        """SIGHUP: swap in the new config; the loop re-syncs the sources table at once."""
        new = reload_config(self.state.config)
        if new is None:
            return
        self.state.config = new
        self.state.sweep_interval = self.fixed_sweep or default_sweep_interval(new)
        self._resync = True
        self._wake.set()
        self.publish_soon()  # topics or titles may have changed

    async def stop(self, grace: float = 3.0, cancel_wait: float = 3.0) -> None:
        """Stop taking work; let in-flight work finish for ``grace`` s, then cancel it."""
        self.state.scheduler_running = False
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.wait({self._loop_task})
            self._loop_task = None
        if self._aps is not None:
            self._aps.pause()
        busy: set[asyncio.Task[object]] = set(self._in_flight.values())
        if self._publish_task and not self._publish_task.done():
            busy.add(self._publish_task)
        if busy:
            log.info(
                "waiting up to %gs for in-flight work (%d fetches)", grace, len(self._in_flight)
            )
            _, busy = await asyncio.wait(busy, timeout=grace)
        # In-flight fetches are cancelled: their sources keep their next_due and are fetched
        # again after a restart. A publish thread cannot be cancelled; its files are
        # replaced atomically, so abandoning it at exit is safe.
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        for task in busy:
            task.cancel()
        if busy:
            await asyncio.wait(busy, timeout=cancel_wait)
        if busy:
            log.info("cancelled %d in-flight fetches", sum(1 for t in busy if t.cancelled()))
        await self.close()

    async def close(self) -> None:
        """Close the fetchers (after ``stop`` or a ``--once`` sweep)."""
        for task in list(self._old_gens):
            task.cancel()
        if self._old_gens:
            await asyncio.wait(set(self._old_gens), timeout=1.0)
        if self._gen is not None:
            await self._gen.fetcher.close()
            self._gen = None
            self._resync = True

    async def _publish_job(self) -> None:
        self._publish_task = asyncio.current_task()
        try:
            await self.publish()
        except asyncio.CancelledError:
            log.info("publish abandoned at shutdown")
        finally:
            self._publish_task = None

    # -- per-fetch bookkeeping -------------------------------------------------------------

    def _on_done(self, r: SourceReport) -> None:
        """One line and the metrics for each fetched source; publish soon on a change."""
        self.state.heartbeat()
        self.state.metrics.observe_fetch(r)
        if r.merged:
            self.state.metrics.merged(r.merged)
        changed = bool(r.new or r.updated or r.removed)
        self._tally.fetched += 1
        self._tally.changed += changed
        self._tally.failed += bool(r.error)
        if changed:
            self.publish_soon()
        fetch_log.log(
            logging.WARNING if r.error else logging.INFO,
            "%s: %s status=%s new=%d updated=%d in %.2fs%s",
            r.name, r.outcome, r.status if r.status is not None else "-", r.new, r.updated,
            r.duration, f": {r.error}" if r.error else "",
            extra={"fields": {"source": r.name, "outcome": r.outcome, "status": r.status,
                              "new": r.new, "updated": r.updated, "removed": r.removed,
                              "duration": round(r.duration, 3), "error": r.error}},
        )

    def _check_pool(self) -> None:
        """Replace a parse pool that lost a worker (OOM kill, crash): it never recovers."""
        if isinstance(self.pool, ProcessPoolExecutor) and getattr(self.pool, "_broken", False):
            log.error("parse process pool broken; starting a new one")
            workers = getattr(self.pool, "_max_workers", None)
            self.pool.shutdown(wait=False, cancel_futures=True)
            # forkserver, not fork: threads exist now, and forking them is unsafe.
            self.pool = new_pool(workers, method="forkserver")
            if self._gen is not None:
                self._gen.ingester.pool = self.pool


async def _in_daemon_thread(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in a daemon thread of its own.

    Not ``asyncio.to_thread``: ``asyncio.run`` joins the default executor's threads at
    exit, so a publish of minutes would hold a SIGTERM up to the forced-exit deadline.
    Abandoning publishing at exit is safe: files are replaced atomically and the store
    transaction rolls back.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    def run() -> None:
        try:
            value, error = fn(*args), None
        except BaseException as e:  # handed to the awaiting task
            value, error = None, e
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (exiting)
            loop.call_soon_threadsafe(settle, value, error)

    name = getattr(args[0] if args else fn, "__name__", "work")
    threading.Thread(target=run, name=name, daemon=True).start()
    return await future


def _in_background(fn: Callable[..., T], config: Config, store: Store, *args: object) -> T:
    """``fn(config, store, *args)`` with its store writes giving way to ingest's."""
    with background(store):
        return fn(config, store, *args)


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
