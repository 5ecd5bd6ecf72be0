"""The jobs beside fetching: debounced publishing and daily retention (APScheduler).

Publishing waits for a quiet moment after the last change (debounce) so a burst of updated
sources costs one publish, not one each. Where other processes change the store too, a
publisher also polls the store's change marker (store/changes.py). Publishing and retention
run in one worker at a time (advisory locks; store/advisory.py). Retention runs daily.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from feedhub.config import Config
from feedhub.retention import prune
from feedhub.service.gate import background
from feedhub.service.state import ServiceState
from feedhub.service.threads import in_daemon_thread
from feedhub.store import Store, first_line
from feedhub.store.advisory import PUBLISH_LOCK, RETENTION_LOCK, advisory_lock
from feedhub.store.changes import needs_publish, read_marker, record_published

if TYPE_CHECKING:  # imported lazily at run time: publishing is optional for a sweep
    from feedhub.publish.run import PublishReport

log = logging.getLogger("feedhub.service")

Publisher = Callable[[Config, Store], "PublishReport"]
T = TypeVar("T")

PUBLISH_DELAY = 2.0  # quiet seconds after the last change before publishing
RETENTION_EVERY_HOURS = 24
PUBLISH_MAX_DELAY = 30.0  # a steady trickle of changes must not postpone publishing forever
PUBLISH_RETRY = 30.0  # after a failed publish (disk full, …), try again this much later
MAX_LOGGED_PATHS = 20  # a first publish writes hundreds of files: keep its log line short
PUBLISH_POLL = 2.0  # seconds between looks at the store's change marker (other processes)
OUTPUT_CHECK_EVERY = 5.0  # seconds between looks for deleted or damaged published files


class Housekeeping:
    """Publishing (debounced, or on the store's change marker) and retention for one
    service; ``publisher=None`` does neither (``--role fetch``).

    ``heartbeat``: the publish poll is the process's sign of life (no due-time loop).
    """

    def __init__(
        self,
        state: ServiceState,
        store: Store,
        publisher: Publisher | None,
        *,
        publish_delay: float = PUBLISH_DELAY,
        heartbeat: bool = False,
    ) -> None:
        self.state = state
        self.store = store
        self.publisher = publisher
        self.publish_delay = publish_delay
        self.heartbeat = heartbeat
        self._aps: AsyncIOScheduler | None = None
        self._publish_lock = asyncio.Lock()
        self._dirty_since: float | None = None
        self._publish_queued = False  # a publish waits for the running one to finish
        self._publish_task: asyncio.Task[object] | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._spawned: set[asyncio.Task[None]] = set()
        self._skipping_publish = False  # another worker held the publish lock last time
        self._poll_pause_until = 0.0  # after a failed publish the poll waits PUBLISH_RETRY
        self._missing_reported = False  # "published files missing" was logged (once per loss)

    # -- start and stop -----------------------------------------------------------------

    def start_jobs(self) -> None:
        """Start the job clock: debounced publishes, and daily retention when we publish.
        Call from inside the running loop."""
        self._aps = AsyncIOScheduler(timezone=UTC)
        if self.publisher is not None:
            self._aps.add_job(
                self._retention_job, "interval", hours=RETENTION_EVERY_HOURS, id="retention",
                max_instances=1, coalesce=True, misfire_grace_time=None,
                next_run_time=datetime.now(UTC) + timedelta(minutes=1),
            )
            self._aps.add_job(
                self._output_check_job, "interval", seconds=OUTPUT_CHECK_EVERY,
                id="output check", max_instances=1, coalesce=True, misfire_grace_time=None,
            )
        self._aps.start()

    def start_poll(self) -> None:
        """Publish whenever the store's change marker moves (changes by other processes)."""
        self._poll_task = asyncio.create_task(self._poll_loop(), name="publish poll")
        log.info("publisher started: looking for store changes every %gs", PUBLISH_POLL)

    async def stop_poll(self) -> None:
        """Cancel the publish poll and wait until it has ended."""
        if self._poll_task is not None:
            self._poll_task.cancel()
            await asyncio.wait({self._poll_task})
        self._poll_task = None

    def pause(self) -> None:
        """Start no more jobs; a running publish goes on (``running_publish``)."""
        if self._aps is not None:
            self._aps.pause()

    def running_publish(self) -> asyncio.Task[object] | None:
        """The publish job in progress, if any (stop gives it a grace period)."""
        if self._publish_task and not self._publish_task.done():
            return self._publish_task
        return None

    def shutdown(self) -> None:
        """Drop the job clock and its pending jobs."""
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None

    # -- publishing ---------------------------------------------------------------------

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
                report = await in_daemon_thread(
                    _publish_if_free, self.publisher, self.state.config, self.store
                )
            except Exception as e:
                seconds = time.perf_counter() - started
                self.state.metrics.observe_publish(seconds, ok=False)
                log.error("publish failed after %.2fs: %s", seconds, first_line(e))
                if self._aps is not None:
                    self.publish_soon(PUBLISH_RETRY)
                self._poll_pause_until = time.monotonic() + PUBLISH_RETRY
                return None
            if report is None:
                # The holder publishes what we ingested too: it polls the change marker.
                (log.debug if self._skipping_publish else log.info)(
                    "publish skipped: another worker holds the publish lock"
                )
                self._skipping_publish = True
                return None
            self._skipping_publish = False
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

    def publish_soon(self, delay: float | None = None) -> None:
        """(Re)arm the debounced publish: ``delay`` after now, but no later than
        PUBLISH_MAX_DELAY after the first unpublished change."""
        if self._aps is None or self._publish_queued or self.publisher is None:
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

    async def _publish_job(self) -> None:
        self._publish_task = asyncio.current_task()
        try:
            await self.publish()
        except asyncio.CancelledError:
            log.info("publish abandoned at shutdown")
        finally:
            self._publish_task = None

    async def _poll_loop(self) -> None:
        """Publish when the store changed since the last publish — whoever changed it."""
        while True:
            await asyncio.sleep(PUBLISH_POLL)
            if self.heartbeat:
                self.state.heartbeat()  # this loop is the publish worker's sign of life
            if self._publish_lock.locked() or self._publish_queued:
                continue  # a publish runs or waits: it includes what changed so far
            if time.monotonic() < self._poll_pause_until:
                continue  # the last publish failed (disk full…): no retry every 2 s

            def changed() -> bool:
                with self.store.read() as conn:
                    return needs_publish(read_marker(conn))

            try:
                if not await asyncio.to_thread(changed):
                    continue
            except Exception as e:  # the store is away: try again next round
                log.warning("cannot read the store's change marker: %s", first_line(e))
                continue
            # A task of its own: stop() gives a running publish its grace period.
            task = asyncio.create_task(self._publish_job(), name="publish")
            self._spawned.add(task)
            task.add_done_callback(self._spawned.discard)
            await asyncio.wait({task})

    async def _output_check_job(self) -> None:
        """Publish again when published files went missing (someone deleted the folder)."""
        if self._publish_lock.locked() or self._publish_queued:
            return  # a publish runs or waits: it writes every missing file
        if time.monotonic() < self._poll_pause_until:
            return  # the last publish failed: it is retried on its own schedule
        from feedhub.publish.outputs import missing_files

        missing = await asyncio.to_thread(missing_files, self.state.config)
        if not missing:
            self._missing_reported = False
            return
        if not self._missing_reported:
            shown = ", ".join(missing[:5]) + (", …" if len(missing) > 5 else "")
            log.warning(
                "%d published files missing or damaged in %s (%s): publishing again",
                len(missing), self.state.config.output_dir, shown,
            )
            self._missing_reported = True
        self.publish_soon(0.0)

    # -- retention ----------------------------------------------------------------------

    async def retention(self) -> int:
        """Delete expired articles (daily; one worker at a time); publish if any went."""
        try:
            n = await in_daemon_thread(
                _retention_if_free, self.state.config, self.store, datetime.now(UTC)
            )
        except Exception as e:
            log.error("retention failed: %s", first_line(e))
            return 0
        if n is None:
            log.info("retention skipped: another worker is applying it")
            return 0
        if n:
            log.info("retention: deleted %d articles", n, extra={"fields": {"deleted": n}})
            self.publish_soon()
        return n

    async def _retention_job(self) -> None:
        await self.retention()


def _in_background(fn: Callable[..., T], config: Config, store: Store, *args: object) -> T:
    """``fn(config, store, *args)`` with its store writes giving way to ingest's."""
    with background(store):
        return fn(config, store, *args)


def _publish_if_free(
    publisher: Publisher, config: Config, store: Store
) -> PublishReport | None:
    """Publish under the store's publish lock; None when another worker holds it.

    The change marker is read before publishing and recorded after it, so what changed
    meanwhile is seen as unpublished by the next poll.
    """
    with advisory_lock(store.engine, PUBLISH_LOCK) as held:
        if not held:
            return None
        with store.read() as conn:
            marker = read_marker(conn)
        report = _in_background(publisher, config, store)
        with store.write() as conn:
            record_published(conn, marker.articles)
        return report


def _retention_if_free(config: Config, store: Store, now: datetime) -> int | None:
    """Apply retention under the store's retention lock; None when another worker is."""
    with advisory_lock(store.engine, RETENTION_LOCK) as held:
        return _in_background(prune, config, store, now) if held else None
