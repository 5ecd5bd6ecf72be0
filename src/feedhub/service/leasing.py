"""This worker's source leases: claim due sources, renew in-flight ones, hand them back.

A lease in a source's row (store/leases.py) says which worker fetches it, so several
``feedhub run`` workers on one store never fetch a source twice for one due time, and take
over a dead worker's sources when its leases expire.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from feedhub.config import Config
from feedhub.model import SourceInfo
from feedhub.service.threads import in_daemon_thread
from feedhub.store import Store, first_line
from feedhub.store.leases import (
    RENEW_FRACTION,
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
)
from feedhub.store.sources import source_infos

log = logging.getLogger("feedhub.service")

RELEASE_TIMEOUT = 2.0  # at stop, the longest we wait to hand our leases back


def lease_length(config: Config) -> timedelta:
    """How long a claim holds under ``config`` (``lease_duration``, store/leases.py)."""
    return lease_duration(config.file.schedule.lease, config.file.fetch.timeout)


def renew_every(config: Config) -> float:
    """Seconds between renewals of in-flight leases: a third of the lease."""
    return lease_length(config).total_seconds() * RENEW_FRACTION


@dataclass(frozen=True, slots=True)
class Claim:
    """One look's outcome: the sources leased to us (oldest due first), whether due
    sources were left for lack of free slots, and the next due time after now."""

    infos: list[SourceInfo]
    more: bool
    upcoming: datetime | None


class Leases:
    """The leases of one worker (``worker``, their owner) in ``store``."""

    def __init__(self, store: Store, worker: str) -> None:
        self.store = store
        self.worker = worker
        self._renewed = time.monotonic()  # when in-flight leases were last extended

    def claim(self, due_by: datetime, now: datetime, room: int | None, until: datetime) -> Claim:
        """Claim up to ``room`` (None: all) sources due by ``due_by`` (runs in a thread).

        A read first, so a look with nothing to claim takes no write lock; then one short
        write transaction claims (other workers may have been quicker: fine).
        """
        with self.store.read() as conn:
            waiting = count_claimable(conn, due_by=due_by, now=now, limit=(room or 0) + 1)
            upcoming = next_due_after(conn, now)
        if not waiting or room == 0:
            return Claim([], waiting > 0, upcoming)
        with self.store.write() as conn:
            names = claim_due(
                conn, self.worker, due_by=due_by, now=now, until=until, limit=room
            )
        if not names:
            return Claim([], False, upcoming)
        with self.store.read() as conn:
            infos = source_infos(conn, names)
        order = {n: i for i, n in enumerate(names)}
        infos.sort(key=lambda i: order[i.name])
        return Claim(infos, room is not None and waiting > room, upcoming)

    def take_back_dead(self) -> None:
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

    def release(self, names: list[str] | None = None) -> int:
        """Hand back our leases (on ``names``, or all): others may fetch them at once."""
        with self.store.write() as conn:
            return release(conn, self.worker, names)

    async def release_all(self) -> None:
        """At exit: hand back every lease we hold, waiting ``RELEASE_TIMEOUT`` s at most."""
        try:
            # A daemon thread with a deadline: a store that hangs must not hold the exit.
            await asyncio.wait_for(in_daemon_thread(self.release), RELEASE_TIMEOUT)
        except Exception as e:  # they expire on their own
            log.warning("cannot release source leases: %s", first_line(e))

    async def renew(self, in_flight: Collection[str], config: Config) -> None:
        """Extend the leases of our in-flight fetches (every third of the lease), so a
        slow fetch, parse or store write is never taken over while we are alive."""
        mono = time.monotonic()
        if mono - self._renewed < renew_every(config):
            return
        self._renewed = mono
        names = list(in_flight)
        if not names:
            return
        until = datetime.now(UTC) + lease_length(config)

        def extend() -> int:
            with self.store.write() as conn:
                return renew(conn, self.worker, names, until)

        try:
            held = await asyncio.to_thread(extend)
        except Exception as e:  # the next round tries again; the lease still runs
            log.warning("cannot renew source leases: %s", first_line(e))
            return
        if held < len(names):  # finished meanwhile, or taken over (LeaseLost says which)
            log.debug("renewed %d of %d in-flight leases", held, len(names))
