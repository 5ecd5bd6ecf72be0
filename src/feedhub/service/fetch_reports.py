"""What the service says about its fetches: a log line and metrics per fetched source, a
summary line every ``SUMMARY_EVERY`` s, and the sources-in-error gauge."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sized
from dataclasses import dataclass, field

from feedhub.ingest.run import SourceReport
from feedhub.service.state import ServiceState
from feedhub.store import Store, first_line
from feedhub.store.sources import count_in_error

log = logging.getLogger("feedhub.service")
fetch_log = logging.getLogger("feedhub.fetch")

SUMMARY_EVERY = 60.0  # seconds between "fetched N sources" summary lines
ERRORS_EVERY = 5.0  # at most this often, recount the sources in error after failures


@dataclass
class _Tally:
    """Fetch outcomes since the last summary line."""

    fetched: int = 0
    changed: int = 0
    failed: int = 0
    since: float = field(default_factory=time.monotonic)


class FetchReports:
    """Logs and metrics for fetched sources; ``on_change`` runs when one changed the store
    (the scheduler publishes soon)."""

    def __init__(self, state: ServiceState, store: Store, on_change: Callable[[], None]) -> None:
        self.state = state
        self.store = store
        self.on_change = on_change
        self._tally = _Tally()
        self._errors_dirty = False
        self._errors_counted = 0.0

    def record(self, r: SourceReport, *, was_failing: bool) -> None:
        """One line and the metrics for a fetched source (``was_failing``: it was in error
        before this fetch); ``on_change`` on a change."""
        if r.error or was_failing:
            self._errors_dirty = True  # an error appeared, or may have cleared
        self.state.heartbeat()
        self.state.metrics.observe_fetch(r)
        if r.merged:
            self.state.metrics.merged(r.merged)
        changed = bool(r.new or r.updated or r.removed)
        self._tally.fetched += 1
        self._tally.changed += changed
        self._tally.failed += bool(r.error)
        if changed:
            self.on_change()
        fetch_log.log(
            logging.WARNING if r.error else logging.INFO,
            "%s: %s status=%s new=%d updated=%d in %.2fs%s",
            r.name, r.outcome, r.status if r.status is not None else "-", r.new, r.updated,
            r.duration, f": {r.error}" if r.error else "",
            extra={"fields": {"source": r.name, "outcome": r.outcome, "status": r.status,
                              "new": r.new, "updated": r.updated, "removed": r.removed,
                              "duration": round(r.duration, 3), "error": r.error}},
        )

    async def sweep_done(self, reports: list[SourceReport]) -> None:
        """One line for a whole ``--once`` sweep, and a fresh sources-in-error gauge."""
        if not reports:
            return
        changed = sum(1 for r in reports if r.new or r.updated or r.removed)
        errors = sum(1 for r in reports if r.error)
        log.info(
            "sweep: %d sources fetched, %d changed, %d failed", len(reports), changed, errors,
            extra={"fields": {"fetched": len(reports), "changed": changed, "failed": errors}},
        )
        await self.count_sources_in_error()

    async def periodic(self, in_flight: Sized) -> None:
        """Between looks: recount the sources in error after a failure (at most every
        ``ERRORS_EVERY`` s), and the summary line every ``SUMMARY_EVERY`` s."""
        now = time.monotonic()
        if self._errors_dirty and now - self._errors_counted >= ERRORS_EVERY:
            await self.count_sources_in_error()
        t = self._tally
        if now - t.since >= SUMMARY_EVERY:
            if t.fetched:
                log.info(
                    "last %.0fs: %d sources fetched, %d changed, %d failed; %d in flight",
                    now - t.since, t.fetched, t.changed, t.failed, len(in_flight),
                    extra={"fields": {"fetched": t.fetched, "changed": t.changed,
                                      "failed": t.failed, "in_flight": len(in_flight)}},
                )
            self._tally = _Tally(since=now)

    async def count_sources_in_error(self) -> None:
        """Set the sources-in-error gauge from the store (true across restarts)."""

        def count() -> int:
            with self.store.read() as conn:
                return count_in_error(conn)

        self._errors_dirty = False
        self._errors_counted = time.monotonic()
        try:
            self.state.metrics.sources_in_error.set(await asyncio.to_thread(count))
        except Exception as e:  # a metric must never break the scheduler
            log.warning("cannot count sources in error: %s", first_line(e))
