"""Opening the store: engine set-up per backend and automatic migrations.

SQLite is the embedded default: WAL so readers (the HTTP server, `feedhub sources`) never
wait for the writer, 16 KiB pages (measured 1.5–2× faster ingest than 4 KiB on ~2 KB rows),
and a busy timeout so a second process waits instead of failing with "database is locked".
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select
from sqlalchemy.engine import make_url

from feedhub.store import schema
from feedhub.store.advisory import MIGRATE_LOCK, xact_lock
from feedhub.util.urls import mask_url

SCHEMA_VERSION = 3  # 2: sources.lease_owner/lease_until (several workers)
# 3: ix_related_docs_window (the boxes a new article is offered to, issue 14)
BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "feedhub_write"


class StoreError(Exception):
    """The store cannot be opened or used; the message is one line for the user."""


def create_store_engine(url: str) -> Engine:
    """An Engine for ``sqlite:///path`` or ``postgresql://…`` with our connection settings."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            u, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if u.get_backend_name() == "postgresql":
        if u.drivername == "postgresql":
            u = u.set(drivername="postgresql+psycopg")
        return create_engine(u, pool_pre_ping=True)
    raise StoreError(f"unsupported store URL {mask_url(url)!r}")


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Python's sqlite3 opens implicit transactions on its own; take control so that
    # BEGIN IMMEDIATE below is what starts a write transaction (SQLAlchemy docs,
    # "Serializable isolation / Savepoints / Transactional DDL" for pysqlite).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA page_size = 16384")  # only takes effect on a new database
    _wal(cur)
    cur.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable to the last checkpoint
    cur.execute("PRAGMA foreign_keys = ON")
    # 32 MiB of page cache instead of 2: a write transaction dirties pages all over the
    # random-key dedupe and URL indexes, and past the cache SQLite spills them to the WAL
    # mid-transaction (the ingest write path cost ~7 % more CPU with the default).
    cur.execute("PRAGMA cache_size = -32768")
    cur.execute("PRAGMA mmap_size = 268435456")  # dedupe key lookups at 1M articles
    # A related batch dirties ~600 pages (a postings leaf per term) per commit: at SQLite's
    # default of 1,000 pages nearly every commit checkpointed, copying the same hot leaves
    # to the database file again each time. 4,096 pages (64 MiB of 16 KiB pages) let them
    # be copied once per several commits: a new article's box at 100k stored, 8.4–9.3 →
    # 7.7–7.8 ms (issue 14). The size limit truncates a WAL that grew past it once more.
    cur.execute("PRAGMA wal_autocheckpoint = 4096")
    cur.execute("PRAGMA journal_size_limit = 67108864")
    cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cur.close()


def _wal(cur: Any) -> None:
    """Put the database in WAL mode (kept in the file), waiting out another process.

    On a new store the switch needs an exclusive lock, and SQLite answers "database is
    locked" at once instead of waiting for the busy timeout: two workers starting together
    on a new store failed to open it (in half the tries with `run --role fetch` and
    `--role publish`). Retried until the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_on_begin(conn: Any) -> None:
    # A writer takes the write lock up front (IMMEDIATE): a second writer then waits
    # (busy_timeout) instead of failing with "database is locked" when it would upgrade
    # a read lock mid-transaction. Readers begin DEFERRED and never block the writer (WAL).
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def migrate(engine: Engine) -> None:
    """Bring the schema to SCHEMA_VERSION. Version 1 is the initial schema.

    Migrations are linear and few; a later version adds a step here (Alembic would bring
    Mako and start-up cost to every command for no gain yet).
    """
    # Import the modules whose tables register on the shared metadata.
    from feedhub.store import tables  # noqa: F401

    with engine.connect() as c, c.execution_options(**{WRITE_OPTION: True}).begin():
        conn = c
        xact_lock(conn, MIGRATE_LOCK)  # workers starting together: one migrates, others wait
        existing = set(inspect(conn).get_table_names())
        if "schema_info" in existing:
            version = conn.execute(select(schema.schema_info.c.version)).scalar()
            if version is not None and version > SCHEMA_VERSION:
                raise StoreError(
                    f"the store was written by a newer feedhub (schema {version}, "
                    f"this one knows {SCHEMA_VERSION}): upgrade feedhub"
                )
        schema.metadata.create_all(conn)
        version = conn.execute(select(schema.schema_info.c.version)).scalar()
        if version is None:
            conn.execute(schema.schema_info.insert().values(id=1, version=SCHEMA_VERSION))
        elif version < SCHEMA_VERSION:
            _upgrade(conn, version)
        # Backend extras that need no version (PostgreSQL's full-text index for related
        # news): each checks the catalog and adds only what is missing.
        from feedhub.store import fulltext

        fulltext.install(conn)
        if version is not None and version < SCHEMA_VERSION:
            # A schema upgrade writes around `Store.write`: a new generation (issue 17).
            from feedhub.store.generation import bump

            bump(conn)


def _upgrade(conn: Connection, version: int) -> None:
    """Bring an existing store from ``version`` to SCHEMA_VERSION, step by step (new tables
    come from ``create_all``; steps add what it cannot: columns and indexes of existing
    tables)."""
    if version < 2:
        have = {c["name"] for c in inspect(conn).get_columns("sources")}
        for col in (schema.sources.c.lease_owner, schema.sources.c.lease_until):
            if col.name not in have:
                ddl = col.type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f"ALTER TABLE sources ADD COLUMN {col.name} {ddl}")
    if version < 3:
        from feedhub.store.related import related_docs

        for index in related_docs.indexes:
            index.create(conn, checkfirst=True)
    conn.execute(schema.schema_info.update().values(version=SCHEMA_VERSION))
