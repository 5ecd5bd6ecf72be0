"""The store's generation: a token that changes with every committed write (issue 17).

A publish records the generation it read (with the config and the output folder it wrote:
`publish.run`), so the next publish of an unchanged store stops after a few rows instead
of signing every topic document over the whole store. The token is not bumped by the
writers one by one: `Store.write` bumps it in every write transaction that changed a row
(SQLite's ``total_changes``, PostgreSQL's assigned transaction id), so a writer added
later cannot forget it. Bumping on a change that publishes nothing (a fetch's next-due
time, a lease) only costs one full publish; missing one would publish stale feeds.

The generation is a counter, raised in one statement (the row's lock orders concurrent
writers on PostgreSQL), so a publish can tell its own stages' writes from anybody else's:
`Store.own_bumps`.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import BigInteger, Connection, Text, cast, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from feedhub.store.meta import get_meta, set_meta
from feedhub.store.schema import meta

GENERATION = "store_generation"  # meta key: changes with every committed write
PUBLISHED = "published_state"  # meta key: what the last complete publish started from


def _sqlite(conn: Connection) -> sqlite3.Connection | None:
    driver = conn.connection.dbapi_connection
    return driver if isinstance(driver, sqlite3.Connection) else None


def change_count(conn: Connection) -> int:
    """Rows changed so far on this SQLite connection (0 on PostgreSQL: `wrote` asks the
    transaction itself there)."""
    driver = _sqlite(conn)
    return driver.total_changes if driver is not None else 0


def wrote(conn: Connection, before: int) -> bool:
    """Whether the open write transaction changed a row since `change_count` was
    ``before``: SQLite counts rows inserted, updated or deleted (triggers and cascades
    included); PostgreSQL assigns a transaction id at the first row a transaction changes."""
    if conn.dialect.name == "sqlite":
        return change_count(conn) != before
    # The name since PostgreSQL 13; the older one (9.6–12) is deprecated, not removed.
    new = (conn.dialect.server_version_info or (0,)) >= (13,)
    xid = "pg_current_xact_id_if_assigned()" if new else "txid_current_if_assigned()"
    return conn.execute(text(f"SELECT {xid} IS NOT NULL")).scalar() is True


def bump(conn: Connection) -> None:
    """Give the store its next generation, inside the writer's transaction (visible with
    its rows, never before them). One atomic upsert: concurrent writers on PostgreSQL
    queue on the row and each gets a number of its own."""
    ins = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(meta)
    row = ins.values(key=GENERATION, value="1")
    after = cast(cast(meta.c.value, BigInteger) + 1, Text)
    conn.execute(row.on_conflict_do_update(index_elements=[meta.c.key],
                                           set_={"value": after}))


def generation(conn: Connection) -> int:
    """The store's current generation (0 before any write)."""
    return int(get_meta(conn, GENERATION) or 0)


def published_state(conn: Connection) -> str | None:
    """What the last complete publish recorded (`record_published_state`), or None."""
    return get_meta(conn, PUBLISHED)


def record_published_state(conn: Connection, state: str) -> None:
    """Record what a publish started from; written with ``Store.write(bump=False)``: the
    publisher's own record changes nothing it publishes."""
    set_meta(conn, PUBLISHED, state)
