"""PostgreSQL advisory locks: what several ``feedhub run`` workers on one store take turns at.

Session locks (``advisory_lock``) are held on a dedicated connection for as long as a job
runs (publishing, retention) and tried, not waited for: a worker that does not get one
skips the job, because the holder is doing it. Transaction locks (``xact_lock``) make
short critical sections wait their turn (creating the tables, syncing the sources table
with the config, ingest writes) and end with the transaction. Either kind is released by
the server when its connection dies, so a SIGKILLed worker leaves no lock behind.

SQLite needs neither: one process owns the file (its write lock already serializes
writers), so on SQLite every lock here is granted at once.

Keys are fixed 64-bit numbers in a range of their own ("fh" + a small number), so they
do not collide with another application's advisory locks in the same database.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from sqlalchemy import Connection, Engine, text

log = logging.getLogger("feedhub.store")

_BASE = 0x6668_0000_0000_0000  # "fh"
MIGRATE_LOCK = _BASE + 1  # creating and migrating the tables
SYNC_LOCK = _BASE + 2  # syncing the sources table with the config
INGEST_LOCK = _BASE + 3  # one ingest write transaction at a time (cross-source dedupe)
PUBLISH_LOCK = _BASE + 4  # one publisher at a time
RETENTION_LOCK = _BASE + 5  # one retention run at a time


def xact_lock(conn: Connection, key: int) -> None:
    """Wait for the transaction-scoped lock ``key`` (PostgreSQL; a no-op on SQLite)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


@contextlib.contextmanager
def advisory_lock(engine: Engine, key: int) -> Iterator[bool]:
    """Try the session lock ``key`` on a connection of its own; yields whether it is held.

    The connection stays checked out (in autocommit: no transaction stays open) until the
    block ends, then unlocks. Always True on SQLite.
    """
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
        try:
            yield held
        finally:
            if held:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                except Exception as e:  # the session ends below, which releases it too
                    log.warning("cannot release advisory lock %#x: %s", key, e)
                    conn.invalidate()
