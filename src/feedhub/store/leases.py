"""Source leases: which worker fetches a due source, when several workers share one store.

A worker *claims* due sources in one short transaction: it selects the due sources nobody
holds a live lease on, oldest due first, ``FOR UPDATE SKIP LOCKED`` (rows another worker
is claiming at this moment are passed over, not waited for), and writes itself in as
``lease_owner`` until ``lease_until``. The ingest transaction that writes the fetch's
outcome (new ``next_due``) clears the lease in the same commit — and only if the worker
still owns it (``hold_lease``), so a source is fetched once per due time and a worker whose
lease was taken over cannot overwrite the newer fetch. A worker that dies (SIGKILL, power)
leaves its leases to expire; then any worker claims them. A live worker renews the leases
of its in-flight fetches, so a slow fetch keeps its lease.

SQLite ignores ``FOR UPDATE``; there ``BEGIN IMMEDIATE`` (store/db.py) makes the claim
transaction the only writer, which is as exclusive.

The claim decision is ``claimable`` (pure); the queries say the same in SQL.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select, update

from feedhub.store.schema import sources

MIN_LEASE = timedelta(seconds=60)
RENEW_FRACTION = 1 / 3  # renew in-flight leases when a third of the lease has passed


class LeaseLost(Exception):
    """This worker's lease on a source was taken over (it expired): the fetch's result is
    dropped, because the new owner fetches the source again."""

    def __init__(self, name: str) -> None:
        super().__init__(f"lease on {name!r} was taken over by another worker")
        self.name = name


def worker_id() -> str:
    """``host:pid:random``: unique per process start, and says where a lease holder runs."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def this_host() -> str:
    return socket.gethostname()


def dead_local_owners(
    owners: Iterable[str], *, host: str, me: str, alive: Callable[[int], bool]
) -> set[str]:
    """The lease owners that ran on ``host`` and whose process is gone (``alive(pid)``
    says no, or the pid is ours now): a crashed predecessor's leases, to take back at
    start instead of waiting for them to expire.

    Only for a store one machine owns (SQLite): elsewhere two containers may share a host
    name and see different processes under one pid.
    """

    def host_pid(owner: str) -> tuple[str, str]:
        name, _, rest = owner.partition(":")
        return name, rest.partition(":")[0]

    my_pid = host_pid(me)[1]
    dead = set()
    for owner in owners:
        name, pid = host_pid(owner)
        if owner == me or name != host or not pid.isdigit():
            continue
        if pid == my_pid or not alive(int(pid)):
            dead.add(owner)
    return dead


def pid_alive(pid: int) -> bool:
    """Is there a process ``pid`` on this machine (ours or another user's)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_owners(conn: Connection) -> set[str]:
    """Everyone holding a lease now (expired or not)."""
    q = select(sources.c.lease_owner).where(sources.c.lease_owner.is_not(None)).distinct()
    return set(conn.execute(q).scalars())


def lease_duration(configured: timedelta | None, fetch_timeout: timedelta) -> timedelta:
    """How long a claim holds: ``schedule.lease``, else twice the fetch timeout but at
    least a minute (a fetch, its parse and its write fit, with room for a slow store)."""
    if configured is not None:
        return configured
    return max(2 * fetch_timeout, MIN_LEASE)


def claimable(
    enabled: bool,
    next_due: datetime | None,
    lease_until: datetime | None,
    *,
    due_by: datetime,
    now: datetime,
) -> bool:
    """May a worker claim this source? Enabled, due by ``due_by``, and no live lease."""
    due = next_due is None or next_due <= due_by
    free = lease_until is None or lease_until < now
    return enabled and due and free


def _claimable(due_by: datetime, now: datetime) -> ColumnElement[bool]:
    c = sources.c
    return and_(
        c.enabled,
        or_(c.next_due.is_(None), c.next_due <= due_by),
        or_(c.lease_until.is_(None), c.lease_until < now),
    )


def count_claimable(conn: Connection, *, due_by: datetime, now: datetime, limit: int) -> int:
    """How many sources are claimable, counting up to ``limit`` (a cheap read, so a worker
    with nothing to claim takes no write lock)."""
    ids = select(sources.c.id).where(_claimable(due_by, now)).limit(limit).subquery()
    return int(conn.execute(select(func.count()).select_from(ids)).scalar() or 0)


def next_due_after(conn: Connection, after: datetime) -> datetime | None:
    """The earliest next-due time of an enabled source after ``after``."""
    q = select(func.min(sources.c.next_due)).where(sources.c.enabled, sources.c.next_due > after)
    value: datetime | None = conn.execute(q).scalar()
    return value


def claim_due(
    conn: Connection,
    owner: str,
    *,
    due_by: datetime,
    now: datetime,
    until: datetime,
    limit: int | None,
) -> list[str]:
    """Lease up to ``limit`` (None: every) claimable sources to ``owner`` until ``until``;
    their names, oldest due first. Run inside one short write transaction."""
    if limit is not None and limit <= 0:
        return []
    rows = conn.execute(
        select(sources.c.id, sources.c.name)
        .where(_claimable(due_by, now))
        .order_by(sources.c.next_due, sources.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # ignored by SQLite (one writer anyway)
    ).all()
    if rows:
        conn.execute(
            update(sources)
            .where(sources.c.id.in_([r.id for r in rows]))
            .values(lease_owner=owner, lease_until=until)
        )
    return [r.name for r in rows]


def renew(conn: Connection, owner: str, names: Collection[str], until: datetime) -> int:
    """Extend ``owner``'s leases on ``names`` to ``until``; how many it still held."""
    if not names:
        return 0
    res = conn.execute(
        update(sources)
        .where(sources.c.lease_owner == owner, sources.c.name.in_(list(names)))
        .values(lease_until=until)
    )
    return int(res.rowcount or 0)


def release(conn: Connection, owner: str, names: Collection[str] | None = None) -> int:
    """Give up ``owner``'s leases (on ``names``, or all of them); how many there were."""
    q = update(sources).where(sources.c.lease_owner == owner)
    if names is not None:
        if not names:
            return 0
        q = q.where(sources.c.name.in_(list(names)))
    return int(conn.execute(q.values(lease_owner=None, lease_until=None)).rowcount or 0)


def hold_lease(conn: Connection, name: str, owner: str) -> None:
    """At the start of an ingest write transaction: check that ``owner`` still holds the
    lease on ``name`` and clear it (it ends with this commit; a rollback restores it).
    Raises LeaseLost when another worker took the source over.
    """
    res = conn.execute(
        update(sources)
        .where(sources.c.name == name, sources.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )
    if not res.rowcount:
        raise LeaseLost(name)
