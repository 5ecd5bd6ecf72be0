"""The service's clock: a due-time loop that starts each due source as its own task, and
debounced publishing (APScheduler).

Which source is due is decided from ``sources.next_due`` in the store (written by the ingest
stage after each fetch), so a restart (or a second worker) picks up the schedule where it
was, with no stampede. A due source is *claimed* before it is fetched: a lease in its row
(store/leases.py) says which worker fetches it, so several ``feedhub run`` workers on one
PostgreSQL store never fetch a source twice for one due time, and take over a dead
worker's sources when its leases expire. On a shared store a worker claims no more
sources than it has free fetch slots, so due work spreads over the workers instead of
queueing behind one (``claim_room``).

Why a loop of our own and not an APScheduler interval job (a soak run of 1,000 sources at
5–15 s intervals measured both problems): a periodic sweep only notices a due source at the
next sweep (lateness up to the sweep interval by design), and a sweep that waits for all of
its fetches lets one slow source hold back every other source (APScheduler runs one sweep at
a time). Here the loop looks at the store (one indexed query) when the earliest source falls
due (or a fetch slot frees up while due sources wait) — at least every ``MIN_WAIT`` and at
most ``max_wait`` seconds apart — and claims and starts due sources as tasks of their own,
bounded by ``fetch.concurrency``. A source is never fetched twice at once (its lease). The
sources table is synced with the config only at start-up and on SIGHUP, not on every look.

Publishing waits for a quiet moment after the last change (debounce) so a burst of updated
sources costs one publish, not one each. Where other processes change the store too, a
publisher also polls the store's change marker (store/changes.py). Publishing and retention
run in one worker at a time (advisory locks; store/advisory.py). Retention runs daily.
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
from sqlalchemy import func, select

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
from feedhub.store.advisory import PUBLISH_LOCK, RETENTION_LOCK, advisory_lock
from feedhub.store.changes import needs_publish, read_marker, record_published
from feedhub.store.leases import (
    RENEW_FRACTION,
    LeaseLost,
    claim_due,
    count_claimable,
    dead_local_owners,
    lease_duration,
    lease_owners,
    next_due_after,
    pid_alive,
    release,
    renew,
    this_host,
    worker_id,
)
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
LOOK_RETRY = 5.0  # after a failed look at the store (store gone), look again this much later
BACKLOG = 2  # shared store: sources in flight per fetch slot, at most (see claim_room)
PUBLISH_POLL = 2.0  # seconds between looks at the store's change marker (other processes)
RELEASE_TIMEOUT = 2.0  # at stop, the longest we wait to hand our leases back


def claim_room(concurrency: int, fetching: int, in_flight: int, *, shared: bool) -> int | None:
    """How many due sources to claim now; None: all of them.

    One process on its own store (SQLite) takes every due source at once and its fetch
    slots pace the fetches, as before leases. On a store shared with other workers, only
    free fetch slots — a source waiting for a slot or fetching holds one, one that is
    parsing or waiting for its store write does not (a slow store must not keep sources
    from being fetched on time) — and no more than ``BACKLOG`` × concurrency in flight in
    all: a worker whose parsing or writing falls behind must not hoard due sources that
    an idle worker could take.
    """
    if not shared:
        return None
    return max(0, min(concurrency - fetching, BACKLOG * concurrency - in_flight))


def default_sweep_interval(config: Config) -> float:
    """The longest pause between looks at the store: ``MAX_WAIT`` (1 s).

    The loop wakes earlier when a source falls due sooner; this cap only bounds how long
    a change made behind the service's back (another worker, a manual edit) goes unseen.
    """
    return MAX_WAIT


class _Slots(asyncio.Semaphore):
    """The fetch slots (``fetch.concurrency``); tells the scheduler when a task is done
    with its network part, so it can claim more sources while that one parses and writes."""

    def __init__(self, value: int, on_release: Callable[[asyncio.Task[object]], None]) -> None:
        super().__init__(value)
        self._on_release = on_release

    def release(self) -> None:
        super().release()
        task = asyncio.current_task()
        if task is not None:
            self._on_release(task)


@dataclass
class _Generation:
    """What fetching needs under one config: its ingester, an open fetcher and the
    concurrency cap. A reload starts a new one; the old one closes after its last fetch."""

    config: Config
    ingester: Ingester
    fetcher: HttpFetcher
    slots: asyncio.Semaphore
    tasks: set[asyncio.Task[SourceReport | None]] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class _Claim:
    """One look's outcome: the sources leased to us (oldest due first), whether due
    sources were left for lack of free slots, and the next due time after now."""

    infos: list[SourceInfo]
    more: bool
    upcoming: datetime | None


@dataclass
class _Tally:
    """Fetch outcomes since the last summary line."""

    fetched: int = 0
    changed: int = 0
    failed: int = 0
    since: float = field(default_factory=time.monotonic)


class Scheduler:
    """Runs the due-time loop and publishes on an AsyncIOScheduler; ``sweep``/``publish``
    also run alone (``feedhub run --once``).

    ``fetch=False`` runs no due-time loop (``--role publish``); ``publisher=None``
    publishes nothing and applies no retention (``--role fetch``); ``poll_publish`` looks
    at the store's change marker every ``PUBLISH_POLL`` s (changes by other processes).
    """

    def __init__(
        self,
        state: ServiceState,
        store: Store,
        pool: Executor | None,
        *,
        publisher: Publisher | None,
        sweep_interval: float | None = None,
        publish_delay: float = PUBLISH_DELAY,
        fetch: bool = True,
        poll_publish: bool = False,
    ) -> None:
        self.state = state
        self.store = store
        self.pool = pool
        self.publisher = publisher
        self.fetch = fetch
        self.poll_publish = poll_publish and publisher is not None
        self.worker = worker_id()  # owner of our leases
        self.fixed_sweep = sweep_interval
        self.publish_delay = publish_delay
        self.state.sweep_interval = sweep_interval or default_sweep_interval(state.config)
        self._aps: AsyncIOScheduler | None = None
        self._publish_lock = asyncio.Lock()
        self._dirty_since: float | None = None
        self._publish_queued = False  # a publish waits for the running one to finish
        self._publish_task: asyncio.Task[object] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._spawned: set[asyncio.Task[None]] = set()
        self._skipping_publish = False  # another worker held the publish lock last time
        self._poll_pause_until = 0.0  # after a failed publish the poll waits PUBLISH_RETRY
        self._wake = asyncio.Event()
        self._gen: _Generation | None = None
        self._old_gens: set[asyncio.Task[None]] = set()
        self._resync = True  # sync the sources table with the config before the next look
        self._in_flight: dict[str, asyncio.Task[SourceReport | None]] = {}
        self._fetched: set[asyncio.Task[object]] = set()  # in flight, past the network part
        self._more_due = False  # the last look left due sources unclaimed (no free slot)
        self._renewed = time.monotonic()  # when in-flight leases were last extended
        self._tally = _Tally()
        self._next_wait = MAX_WAIT
        self._stopping = False
        self._errors_dirty = False
        self._errors_counted = 0.0

    # -- work ---------------------------------------------------------------------------

    async def sweep(self) -> list[SourceReport]:
        """Ingest every source due now once and wait for all of them (``--once``).

        Claims in rounds as fetch slots free up (other ``--once`` workers take their
        share meanwhile); a source fetched in this sweep is not due again before it ends,
        because only sources due by the sweep's start are claimed.
        """
        gen = await self._ensure_synced()
        self.state.heartbeat()
        due_by = gen.ingester.clock()
        started: list[asyncio.Task[SourceReport | None]] = []
        more = True
        while True:
            if more and not self._stopping:
                started += await self._start_due(due_by=due_by)
                more = self._more_due
            pending = {t for t in started if not t.done()}
            if not pending and not (more and not self._stopping):
                break
            self._wake.clear()
            waiter = asyncio.ensure_future(self._wake.wait())  # a fetch slot freed up
            await asyncio.wait(
                {waiter, *pending}, timeout=self._renew_every(),
                return_when=asyncio.FIRST_COMPLETED,
            )
            waiter.cancel()
            await self._renew_leases()
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
                    _publish_if_free, self.publisher, self.state.config, self.store
                )
            except Exception as e:
                seconds = time.perf_counter() - started
                self.state.metrics.observe_publish(seconds, ok=False)
                log.error("publish failed after %.2fs: %s", seconds, _one_line(e))
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

    async def retention(self) -> int:
        """Delete expired articles (daily; one worker at a time); publish if any went."""
        try:
            n = await _in_daemon_thread(
                _retention_if_free, self.state.config, self.store, datetime.now(UTC)
            )
        except Exception as e:
            log.error("retention failed: %s", _one_line(e))
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
        ingester = Ingester(config, self.store, pool=self.pool, lease_owner=self.worker)
        if self._gen is None and self.store.dialect == "sqlite":
            await asyncio.to_thread(self._take_back_dead_leases)
        await asyncio.to_thread(ingester.sync)
        self._resync = self.state.config is not config  # reloaded meanwhile: again
        fetcher = HttpFetcher(fetch_settings(config))
        await fetcher.__aenter__()
        old, self._gen = self._gen, _Generation(
            config, ingester, fetcher, _Slots(config.file.fetch.concurrency, self._slot_released)
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

    def _lease(self, config: Config) -> timedelta:
        return lease_duration(config.file.schedule.lease, config.file.fetch.timeout)

    def _renew_every(self) -> float:
        return self._lease(self.state.config).total_seconds() * RENEW_FRACTION

    def _room(self, gen: _Generation) -> int | None:
        fetching = sum(1 for t in self._in_flight.values() if t not in self._fetched)
        return claim_room(
            gen.config.file.fetch.concurrency, fetching, len(self._in_flight),
            shared=self.store.dialect != "sqlite",
        )

    def _claim(
        self, due_by: datetime, now: datetime, room: int | None, until: datetime
    ) -> _Claim:
        """Claim up to ``room`` (None: all) sources due by ``due_by`` (runs in a thread).

        A read first, so a look with nothing to claim takes no write lock; then one short
        write transaction claims (other workers may have been quicker: fine).
        """
        with self.store.read() as conn:
            waiting = count_claimable(conn, due_by=due_by, now=now, limit=(room or 0) + 1)
            upcoming = next_due_after(conn, now)
        if not waiting or room == 0:
            return _Claim([], waiting > 0, upcoming)
        with self.store.write() as conn:
            names = claim_due(
                conn, self.worker, due_by=due_by, now=now, until=until, limit=room
            )
        if not names:
            return _Claim([], False, upcoming)
        with self.store.read() as conn:
            infos = source_infos(conn, names)
        order = {n: i for i, n in enumerate(names)}
        infos.sort(key=lambda i: order[i.name])
        return _Claim(infos, room is not None and waiting > room, upcoming)

    async def _start_due(
        self, due_by: datetime | None = None
    ) -> list[asyncio.Task[SourceReport | None]]:
        """Claim due sources for our free fetch slots and start a task for each; schedule
        the next look."""
        gen = await self._ensure_synced()
        now = gen.ingester.clock()
        claim = await asyncio.to_thread(
            self._claim, due_by or now, now, self._room(gen), now + self._lease(gen.config)
        )
        self._more_due = claim.more
        wait = self.state.sweep_interval
        if claim.upcoming is not None:
            wait = (claim.upcoming - gen.ingester.clock()).total_seconds()
        self._next_wait = min(self.state.sweep_interval, max(MIN_WAIT, wait))
        by_name = {s.name: s for s in gen.config.sources}
        started, orphans = [], []
        for info in claim.infos:
            src = by_name.get(info.name)
            if src is None:
                orphans.append(info.name)  # removed from the config (synced at the next look)
                continue
            started.append(self._start(gen, info, src))
        if orphans:
            await asyncio.to_thread(self._release, orphans)
        return started

    def _take_back_dead_leases(self) -> None:
        """At start on SQLite: free the leases a killed predecessor left (one machine owns
        the file, so its pid says whether it still runs), so a restart after a crash
        fetches its in-flight sources at once instead of after the lease expires."""
        with self.store.write() as conn:
            dead = dead_local_owners(
                lease_owners(conn), host=this_host(), me=self.worker, alive=pid_alive
            )
            n = sum(release(conn, owner) for owner in sorted(dead))
        if n:
            log.info("took back %d source leases of an earlier run that did not stop "
                     "cleanly (%s)", n, ", ".join(sorted(dead)))

    def _release(self, names: list[str] | None = None) -> int:
        """Hand back our leases (on ``names``, or all): others may fetch them at once."""
        with self.store.write() as conn:
            return release(conn, self.worker, names)

    async def _renew_leases(self) -> None:
        """Extend the leases of our in-flight fetches (every third of the lease), so a
        slow fetch, parse or store write is never taken over while we are alive."""
        mono = time.monotonic()
        if mono - self._renewed < self._renew_every():
            return
        self._renewed = mono
        names = list(self._in_flight)
        if not names:
            return
        until = datetime.now(UTC) + self._lease(self.state.config)

        def extend() -> int:
            with self.store.write() as conn:
                return renew(conn, self.worker, names, until)

        try:
            held = await asyncio.to_thread(extend)
        except Exception as e:  # the next round tries again; the lease still runs
            log.warning("cannot renew source leases: %s", _one_line(e))
            return
        if held < len(names):  # finished meanwhile, or taken over (LeaseLost says which)
            log.debug("renewed %d of %d in-flight leases", held, len(names))

    def _start(
        self, gen: _Generation, info: SourceInfo, src: Source
    ) -> asyncio.Task[SourceReport | None]:
        task = asyncio.create_task(self._ingest(gen, info, src), name=f"ingest {src.name}")
        self._in_flight[src.name] = task
        gen.tasks.add(task)

        def done(t: asyncio.Task[SourceReport | None]) -> None:
            gen.tasks.discard(t)
            self._fetched.discard(t)
            if self._in_flight.get(src.name) is t:
                del self._in_flight[src.name]

        task.add_done_callback(done)
        return task

    def _slot_released(self, task: asyncio.Task[object]) -> None:
        """A fetch finished its network part: claim more at once if sources wait."""
        self._fetched.add(task)  # until the task ends (its done callback)
        if self._more_due:
            self._wake.set()

    async def _ingest(self, gen: _Generation, info: SourceInfo, src: Source) -> SourceReport | None:
        """One source through fetch → parse → store; its fetch within the concurrency cap."""
        if self._stopping:
            return None  # a stop came first: leave it for the restart (leases released)
        try:
            # Ingester's per-source step (``Ingester.run`` would also re-sync every
            # source from the config, 1,000 UPDATEs per call, and wait for all).
            report = await gen.ingester.ingest_one(gen.fetcher, info, src, gen.slots)
        except asyncio.CancelledError:
            raise
        except LeaseLost as e:
            log.warning("%s; its new owner fetches it, this result is dropped", e)
            return None
        except Exception:
            # The lease stays: nobody retries the source before it expires (no hot loop).
            log.exception(
                "ingest of %s failed; retrying when its lease expires (%gs)",
                src.name, self._lease(gen.config).total_seconds(),
            )
            return None
        if report.error:
            # A store error rolled the write back, lease included: hand it back so the
            # next look retries the source, as before leases (a no-op when the write
            # committed and ended the lease).
            try:
                await asyncio.to_thread(self._release, [src.name])
            except Exception as e:
                log.warning("cannot release the lease on %s: %s", src.name, _one_line(e))
        if report.error or info.last_error is not None:
            self._errors_dirty = True  # an error appeared, or may have cleared
        self._on_done(report)
        return report

    # -- clock --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the due-time loop (first look now), retention and the publish poll, as the
        roles ask. Call from inside the running loop."""
        self._aps = AsyncIOScheduler(timezone=UTC)
        if self.publisher is not None:
            self._aps.add_job(
                self._retention_job, "interval", hours=RETENTION_EVERY_HOURS, id="retention",
                max_instances=1, coalesce=True, misfire_grace_time=None,
                next_run_time=datetime.now(UTC) + timedelta(minutes=1),
            )
        self._aps.start()
        if self.fetch:
            self._loop_task = asyncio.create_task(self._run_loop(), name="scheduler loop")
            log.info(
                "scheduler started (worker %s): looking for due sources at least every %gs; "
                "leases of %gs", self.worker, self.state.sweep_interval,
                self._lease(self.state.config).total_seconds(),
            )
        if self.poll_publish:
            self._poll_task = asyncio.create_task(self._poll_loop(), name="publish poll")
            log.info("publisher started: looking for store changes every %gs", PUBLISH_POLL)
        self.state.scheduler_running = True

    async def _run_loop(self) -> None:
        while True:
            self._next_wait = LOOK_RETRY
            # Cleared before the look: a fetch slot freed during it wakes the next one.
            self._wake.clear()
            looked = time.monotonic()
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._next_wait)
            # At most one look per MIN_WAIT, however often slots free up.
            if (gap := MIN_WAIT - (time.monotonic() - looked)) > 0:
                await asyncio.sleep(gap)

    async def _poll_loop(self) -> None:
        """Publish when the store changed since the last publish — whoever changed it."""
        while True:
            await asyncio.sleep(PUBLISH_POLL)
            if not self.fetch:
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
                log.warning("cannot read the store's change marker: %s", _one_line(e))
                continue
            # A task of its own: stop() gives a running publish its grace period.
            task = asyncio.create_task(self._publish_job(), name="publish")
            self._spawned.add(task)
            task.add_done_callback(self._spawned.discard)
            await asyncio.wait({task})

    async def _housekeeping(self) -> None:
        """Lease renewal, the periodic summary line and the sources-in-error gauge."""
        await self._renew_leases()
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
        for loop_task in (self._loop_task, self._poll_task):
            if loop_task is not None:
                loop_task.cancel()
                await asyncio.wait({loop_task})
        self._loop_task = self._poll_task = None
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
        # In-flight fetches are cancelled: their sources keep their next_due, and close()
        # hands their leases back, so another worker or a restart fetches them at once.
        # A publish thread cannot be cancelled; its files are
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
        """Hand back our leases and close the fetchers (after ``stop`` or a ``--once``
        sweep)."""
        if self.fetch:
            try:
                # A daemon thread with a deadline: a store that hangs must not hold the exit.
                await asyncio.wait_for(_in_daemon_thread(self._release), RELEASE_TIMEOUT)
            except Exception as e:  # they expire on their own
                log.warning("cannot release source leases: %s", _one_line(e))
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


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
