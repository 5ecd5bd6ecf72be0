"""The service's clock: a due-time loop that starts each due source as its own task, and
the wiring of what runs beside it (leases, publishing, retention, logs and metrics).

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

The parts: ``leasing`` (claim, renew, release leases), ``generations`` (ingester, fetcher
and fetch slots per config), ``housekeeping`` (debounced publishing and retention),
``fetch_reports`` (per-fetch log lines, summaries, metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import Executor
from datetime import datetime
from typing import TYPE_CHECKING

from feedhub.config import Config, Source
from feedhub.ingest.run import Ingester, SourceReport
from feedhub.model import SourceInfo
from feedhub.service.fetch_reports import FetchReports
from feedhub.service.generations import Generation, Generations
from feedhub.service.housekeeping import PUBLISH_DELAY, Housekeeping, Publisher
from feedhub.service.leasing import Leases, lease_length, renew_every
from feedhub.service.pages import Pages
from feedhub.service.reload import reload_config
from feedhub.service.state import ServiceState
from feedhub.store import Store, first_line
from feedhub.store.leases import LeaseLost, worker_id

if TYPE_CHECKING:  # imported lazily at run time: publishing is optional for a sweep
    from feedhub.publish.run import PublishReport

__all__ = ["Publisher", "Scheduler", "claim_room", "default_sweep_interval"]

log = logging.getLogger("feedhub.service")

MAX_WAIT = 1.0  # default longest pause between looks at the store for due sources
MIN_WAIT = 0.2  # shortest pause: sources falling due within it are started together
LOOK_RETRY = 5.0  # after a failed look at the store (store gone), look again this much later
BACKLOG = 2  # shared store: sources in flight per fetch slot, at most (see claim_room)


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


class Scheduler:
    """Runs the due-time loop, and publishing and retention beside it; ``sweep``/``publish``
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
        self.fetch = fetch
        self.poll_publish = poll_publish and publisher is not None
        self.worker = worker_id()  # owner of our leases
        self.fixed_sweep = sweep_interval
        self.state.sweep_interval = sweep_interval or default_sweep_interval(state.config)
        self._leases = Leases(store, self.worker)
        self._housekeeping = Housekeeping(
            state, store, publisher, publish_delay=publish_delay, heartbeat=not fetch
        )
        self._reports = FetchReports(state, store, on_change=self.publish_soon)
        self._gens = Generations()
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._resync = True  # sync the sources table with the config before the next look
        self._in_flight: dict[str, asyncio.Task[SourceReport | None]] = {}
        self._fetched: set[asyncio.Task[object]] = set()  # in flight, past the network part
        self._more_due = False  # the last look left due sources unclaimed (no free slot)
        self._next_wait = MAX_WAIT
        self._stopping = False
        self._pages = Pages(store, pool)  # article pages (full text), beside the loop

    @property
    def publisher(self) -> Publisher | None:
        """What publishes; None: this worker neither publishes nor applies retention."""
        return self._housekeeping.publisher

    @property
    def publish_delay(self) -> float:
        """Quiet seconds after the last change before a debounced publish."""
        return self._housekeeping.publish_delay

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
                {waiter, *pending}, timeout=renew_every(self.state.config),
                return_when=asyncio.FIRST_COMPLETED,
            )
            waiter.cancel()
            await self._leases.renew(self._in_flight, self.state.config)
        results = await asyncio.gather(*started)
        reports = [r for r in results if r is not None]
        await self._pages.drain(
            self.state.config, [r.name for r in reports if r.new_ids or r.changed_ids]
        )
        self.state.heartbeat()
        self.state.metrics.sweeps.inc()
        self.state.metrics.last_sweep.set(time.time())
        await self._reports.sweep_done(reports)
        return reports

    async def publish(self) -> PublishReport | None:
        """Publish every topic now (in a thread: rendering must not stall serving)."""
        return await self._housekeeping.publish()

    def publish_soon(self, delay: float | None = None) -> None:
        """(Re)arm the debounced publish: ``delay`` after now, but no later than
        PUBLISH_MAX_DELAY after the first unpublished change."""
        self._housekeeping.publish_soon(delay)

    async def retention(self) -> int:
        """Delete expired articles (daily; one worker at a time); publish if any went."""
        return await self._housekeeping.retention()

    async def count_sources_in_error(self) -> None:
        """Set the sources-in-error gauge from the store (true across restarts)."""
        await self._reports.count_sources_in_error()

    # -- sources: sync, look, start -----------------------------------------------------

    async def _ensure_synced(self) -> Generation:
        """Sync the sources table with the config (start-up, SIGHUP) and open a fetcher
        for it; a no-op between reloads."""
        if not self._resync and self._gens.current is not None:
            return self._gens.current
        config = self.state.config
        ingester = Ingester(config, self.store, pool=self.pool, lease_owner=self.worker)
        if self._gens.current is None and self.store.dialect == "sqlite":
            await asyncio.to_thread(self._leases.take_back_dead)
        await asyncio.to_thread(ingester.sync)
        self._resync = self.state.config is not config  # reloaded meanwhile: again
        gen = await Generation.open(config, ingester, self._slot_released)
        self._gens.replace(gen)
        return gen

    def _room(self, gen: Generation) -> int | None:
        fetching = sum(1 for t in self._in_flight.values() if t not in self._fetched)
        return claim_room(
            gen.config.file.fetch.concurrency, fetching, len(self._in_flight),
            shared=self.store.dialect != "sqlite",
        )

    async def _start_due(
        self, due_by: datetime | None = None
    ) -> list[asyncio.Task[SourceReport | None]]:
        """Claim due sources for our free fetch slots and start a task for each; schedule
        the next look."""
        gen = await self._ensure_synced()
        now = gen.ingester.clock()
        claim = await asyncio.to_thread(
            self._leases.claim, due_by or now, now, self._room(gen), now + lease_length(gen.config)
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
            await asyncio.to_thread(self._leases.release, orphans)
        return started

    def _start(
        self, gen: Generation, info: SourceInfo, src: Source
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

    async def _ingest(self, gen: Generation, info: SourceInfo, src: Source) -> SourceReport | None:
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
                src.name, lease_length(gen.config).total_seconds(),
            )
            return None
        if report.error:
            # A store error rolled the write back, lease included: hand it back so the
            # next look retries the source, as before leases (a no-op when the write
            # committed and ended the lease).
            try:
                await asyncio.to_thread(self._leases.release, [src.name])
            except Exception as e:
                log.warning("cannot release the lease on %s: %s", src.name, first_line(e))
        self._reports.record(report, was_failing=info.last_error is not None)
        self._pages.ingested(gen.config, report)
        return report

    # -- clock --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the due-time loop (first look now), retention and the publish poll, as the
        roles ask. Call from inside the running loop."""
        self._housekeeping.start_jobs()
        if self.fetch:
            self._loop_task = asyncio.create_task(self._run_loop(), name="scheduler loop")
            self._pages.start(self.state.config, self.publish_soon)
            log.info(
                "scheduler started (worker %s): looking for due sources at least every %gs; "
                "leases of %gs", self.worker, self.state.sweep_interval,
                lease_length(self.state.config).total_seconds(),
            )
        if self.poll_publish:
            self._housekeeping.start_poll()
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
                await self._between_looks()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the next look tries again; the service stays up
                log.error("looking for due sources failed: %s", first_line(e))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._next_wait)
            # At most one look per MIN_WAIT, however often slots free up.
            if (gap := MIN_WAIT - (time.monotonic() - looked)) > 0:
                await asyncio.sleep(gap)

    async def _between_looks(self) -> None:
        """Lease renewal, the periodic summary line and the sources-in-error gauge."""
        await self._leases.renew(self._in_flight, self.state.config)
        await self._reports.periodic(self._in_flight)

    def reload(self) -> None:
        """SIGHUP: swap in the new config; the loop re-syncs the sources table at once."""
        new = reload_config(self.state.config)
        if new is None:
            return
        self.state.config = new
        self.state.sweep_interval = self.fixed_sweep or default_sweep_interval(new)
        self._resync = True
        self._wake.set()
        self._pages.reload(new)
        self.publish_soon()  # topics or titles may have changed

    async def stop(self, grace: float = 3.0, cancel_wait: float = 3.0) -> None:
        """Stop taking work; let in-flight work finish for ``grace`` s, then cancel it."""
        self.state.scheduler_running = False
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.wait({self._loop_task})
        self._loop_task = None
        await self._pages.stop()
        await self._housekeeping.stop_poll()
        self._housekeeping.pause()
        busy: set[asyncio.Task[object]] = set(self._in_flight.values())
        if (publishing := self._housekeeping.running_publish()) is not None:
            busy.add(publishing)
        if busy:
            log.info(
                "waiting up to %gs for in-flight work (%d fetches)", grace, len(self._in_flight)
            )
            _, busy = await asyncio.wait(busy, timeout=grace)
        # In-flight fetches are cancelled: their sources keep their next_due, and close()
        # hands their leases back, so another worker or a restart fetches them at once.
        # A publish thread cannot be cancelled; its files are
        # replaced atomically, so abandoning it at exit is safe.
        self._housekeeping.shutdown()
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
            await self._leases.release_all()
        await self._gens.close()
        self._resync = True
