"""The service's clock: APScheduler sweeps that ingest due sources, and debounced publishing.

Which source is due is decided by the ingest stage from ``sources.next_due`` in the store,
so the scheduler only needs one periodic job: a restart (or a second worker) picks up the
schedule where it was, with no stampede. Publishing waits for a quiet moment after the
last change (debounce) so a burst of updated sources costs one publish, not one each.
Retention (deleting old articles, issue 5 item 5) is not scheduled here yet.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select

from feedhub.config import Config
from feedhub.ingest.run import Ingester, SourceReport
from feedhub.retention import prune
from feedhub.service.reload import reload_config
from feedhub.service.state import ServiceState
from feedhub.store import Store
from feedhub.store.schema import sources

if TYPE_CHECKING:  # imported lazily at run time: publishing is optional for a sweep
    from feedhub.publish.run import PublishReport

log = logging.getLogger("feedhub.service")
fetch_log = logging.getLogger("feedhub.fetch")

Publisher = Callable[[Config, Store], "PublishReport"]

DEFAULT_SWEEP = 5.0  # seconds between looks at the store for due sources
MIN_SWEEP = 1.0  # the schedule's own floor (schedule.min_interval defaults to 1 s)
PUBLISH_DELAY = 2.0  # quiet seconds after the last change before publishing
RETENTION_EVERY_HOURS = 24
PUBLISH_MAX_DELAY = 30.0  # a steady trickle of changes must not postpone publishing forever
PUBLISH_RETRY = 30.0  # after a failed publish (disk full, …), try again this much later
MAX_LOGGED_PATHS = 20  # a first publish writes hundreds of files: keep its log line short


def default_sweep_interval(config: Config) -> float:
    """5 s, or the shortest enabled source interval when that is shorter (at least 1 s).

    A source due every 2 s would otherwise be fetched only every 5 s.
    """
    intervals = [s.interval.total_seconds() for s in config.sources if s.enabled]
    return max(MIN_SWEEP, min([DEFAULT_SWEEP, *intervals]))


class Scheduler:
    """Runs sweeps and publishes on an AsyncIOScheduler; ``sweep``/``publish`` also run alone
    (``feedhub run --once``)."""

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
        self._sweep_task: asyncio.Task[object] | None = None
        self._publish_task: asyncio.Task[object] | None = None

    # -- work ---------------------------------------------------------------------------

    async def sweep(self) -> list[SourceReport]:
        """Ingest every due source once; publish soon if anything changed."""
        self.state.heartbeat()
        ingester = Ingester(self.state.config, self.store, pool=self.pool)
        reports = await ingester.run(due_only=True, on_done=self._on_done)
        self.state.heartbeat()
        self.state.last_sweep_end = time.monotonic()
        self.state.metrics.sweeps.inc()
        self.state.metrics.last_sweep.set(time.time())
        if reports:
            changed = [r for r in reports if r.new or r.updated or r.removed]
            errors = sum(1 for r in reports if r.error)
            log.info(
                "sweep: %d sources fetched, %d changed, %d failed",
                len(reports), len(changed), errors,
                extra={"fields": {"fetched": len(reports), "changed": len(changed),
                                  "failed": errors}},
            )
            await self.count_sources_in_error()
            if changed and self._aps is not None:
                self.publish_soon()
        self._check_pool()
        return reports

    async def publish(self) -> PublishReport | None:
        """Publish every topic now (in a thread: rendering must not stall serving)."""
        if self.publisher is None:
            return None
        async with self._publish_lock:
            self._dirty_since = None  # changes from here on schedule another publish
            started = time.perf_counter()
            try:
                report = await asyncio.to_thread(self.publisher, self.state.config, self.store)
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

    async def retention(self) -> int:
        """Delete expired articles (daily); publish if any went."""
        try:
            n = await asyncio.to_thread(prune, self.state.config, self.store, datetime.now(UTC))
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

        try:
            self.state.metrics.sources_in_error.set(await asyncio.to_thread(count))
        except Exception as e:  # a metric must never break a sweep
            log.warning("cannot count sources in error: %s", _one_line(e))

    def _on_done(self, r: SourceReport) -> None:
        """One line and the metrics for each fetched source."""
        self.state.heartbeat()
        self.state.metrics.observe_fetch(r)
        if r.merged:
            self.state.metrics.merged(r.merged)
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
            self.pool = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("forkserver")
            )

    # -- clock --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the periodic sweep (first one now). Call from inside the running loop."""
        self._aps = AsyncIOScheduler(timezone=UTC)
        self._aps.add_job(
            self._sweep_job, "interval", seconds=self.state.sweep_interval, id="sweep",
            max_instances=1, coalesce=True, misfire_grace_time=None,
            next_run_time=datetime.now(UTC),
        )
        self._aps.add_job(
            self._retention_job, "interval", hours=RETENTION_EVERY_HOURS, id="retention",
            max_instances=1, coalesce=True, misfire_grace_time=None,
            next_run_time=datetime.now(UTC) + timedelta(minutes=1),
        )
        self._aps.start()
        self.state.scheduler_running = True
        log.info("scheduler started: sweeping every %gs", self.state.sweep_interval)

    def publish_soon(self, delay: float | None = None) -> None:
        """(Re)arm the debounced publish: ``delay`` after now, but no later than
        PUBLISH_MAX_DELAY after the first unpublished change."""
        if self._aps is None:
            return
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
        """SIGHUP: swap in the new config (the next sweep syncs sources from it)."""
        new = reload_config(self.state.config)
        if new is None:
            return
        self.state.config = new
        interval = self.fixed_sweep or default_sweep_interval(new)
        if self._aps is not None and interval != self.state.sweep_interval:
            self._aps.reschedule_job("sweep", trigger="interval", seconds=interval)
            log.info("sweeping every %gs", interval)
        self.state.sweep_interval = interval
        self.publish_soon()  # topics or titles may have changed

    async def stop(self, grace: float = 3.0, cancel_wait: float = 3.0) -> None:
        """Stop taking work; let in-flight work finish for ``grace`` s, then cancel it."""
        self.state.scheduler_running = False
        if self._aps is None:
            return
        self._aps.pause()
        busy = {t for t in (self._sweep_task, self._publish_task) if t and not t.done()}
        if busy:
            log.info("waiting up to %gs for in-flight work", grace)
            _, busy = await asyncio.wait(busy, timeout=grace)
        # Cancels running jobs: in-flight fetches stop, sources keep their next_due and
        # are fetched again after a restart. A publish thread cannot be cancelled; its
        # files are replaced atomically, so abandoning it at exit is safe.
        self._aps.shutdown(wait=False)
        for task in busy:
            task.cancel()
        if busy:
            await asyncio.wait(busy, timeout=cancel_wait)
        self._aps = None

    async def _sweep_job(self) -> None:
        self._sweep_task = asyncio.current_task()
        try:
            await self.sweep()
        except asyncio.CancelledError:
            log.info("sweep cancelled")
        except Exception:  # the next sweep tries again; the service stays up
            log.exception("sweep failed")
        finally:
            self._sweep_task = None

    async def _publish_job(self) -> None:
        self._publish_task = asyncio.current_task()
        try:
            await self.publish()
        except asyncio.CancelledError:
            log.info("publish abandoned at shutdown")
        finally:
            self._publish_task = None


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
