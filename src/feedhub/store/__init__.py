"""Store stage: the only shared state (sources, articles, clusters, related lists, publish state).

``Store`` hands out connections: ``read()`` for queries, ``write()`` for one transaction
that takes the write lock up front (one writer at a time; ingest writes one source, or on
SQLite a group of sources, per transaction: ingest/run.py). The functions that run inside
them live in this package's modules.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from feedhub.store.db import (
    BUSY_TIMEOUT_MS,
    WRITE_OPTION,
    StoreError,
    create_store_engine,
    migrate,
)
from feedhub.store.generation import bump as bump_generation
from feedhub.store.generation import change_count, wrote
from feedhub.util.urls import mask_url

__all__ = ["Store", "StoreError", "first_line"]


class Store:
    """A handle on the store; cheap to create, ``close()`` when done."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._thread = threading.local()  # .bumps: this thread's generation bumps

    @classmethod
    def open(cls, url: str, *, migrate_schema: bool = True) -> Store:
        """Open (creating and migrating when needed) the store at ``url``."""
        try:
            engine = create_store_engine(url)
            if migrate_schema:
                migrate(engine)
        except OperationalError as e:
            raise StoreError(f"cannot open store {mask_url(url)}: {first_line(e)}") from None
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self, *, bump: bool = True) -> Iterator[Connection]:
        """One write transaction: committed on success, rolled back on any exception.

        A transaction that changed a row gives the store a new generation
        (`store.generation`, issue 17), so a publish of an unchanged store can stop early;
        ``bump=False`` only for the publisher's own records, which change nothing it
        publishes.
        """
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                before = change_count(conn)
                yield conn
                if bump and wrote(conn, before):
                    bump_generation(conn)
                    self._thread.bumps = self.own_bumps() + 1

    def own_bumps(self) -> int:
        """How many generations this thread's write transactions have begun (counted
        before their commit): a publish whose stages made all of the bumps since it read
        the generation may record the one after them (issue 17)."""
        return getattr(self._thread, "bumps", 0)

    def ping(self) -> None:
        """Ask the database for ``SELECT 1`` (readiness probes); raises when it cannot answer."""
        with self.read() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


BUSY = (
    "the store is busy: another feedhub process kept it locked for more than "
    f"{BUSY_TIMEOUT_MS // 1000} s; try again later"
)


def first_line(e: BaseException) -> str:
    """The first line of a store error, for one-line messages.

    SQLite's "database is locked" (the busy timeout ran out behind another process's
    write) is said in words that tell the user what to do.
    """
    orig = getattr(e, "orig", None) or e
    text = str(orig).strip()
    if not text:
        return type(orig).__name__
    line = text.splitlines()[0]
    if line in ("database is locked", "database table is locked"):
        return BUSY
    return mask_url(line)
