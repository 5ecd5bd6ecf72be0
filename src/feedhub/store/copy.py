"""`feedhub store copy`: move a whole store to another backend (SQLite ⇄ PostgreSQL).

Every table of the store's metadata is copied in dependency order (parents before the rows
that reference them), with the ids as they are, so every link between tables survives:
rows stream from the source in batches (a server-side cursor on PostgreSQL) and go in with
Core executemany inserts, so memory stays bounded by one batch whatever the store's size.

The source is read in one snapshot (a REPEATABLE READ transaction on PostgreSQL, a read
transaction on SQLite), so a service writing meanwhile cannot make the copy inconsistent.
The target is written in one transaction: it ends up with the whole copy or nothing. Its
PostgreSQL sequences are moved past the copied ids (new rows must not collide), and the
row counts of every table are compared before committing; a mismatch rolls back.

A target that already holds rows is refused unless ``force`` (its rows are then replaced).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, Table, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from feedhub.store import first_line, schema
from feedhub.store.db import WRITE_OPTION, StoreError, migrate
from feedhub.store.migrations import schema_version

DEFAULT_BATCH = 1000  # rows per read and per insert: a few MB of article text at most


@dataclass(frozen=True, slots=True)
class TableCount:
    """Rows of one table in the source snapshot and in the target after the copy."""

    table: str
    source: int
    target: int

    @property
    def ok(self) -> bool:
        return self.source == self.target


@dataclass(slots=True)
class CopyReport:
    """What `copy_store` did; ``ok`` is False when some count differs (nothing committed)."""

    counts: list[TableCount] = field(default_factory=list)
    sequences: list[str] = field(default_factory=list)  # PostgreSQL sequences moved on
    replaced: list[str] = field(default_factory=list)  # target tables emptied (force)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.counts)

    @property
    def rows(self) -> int:
        return sum(c.target for c in self.counts)


class CopyError(StoreError):
    """The copy cannot start or failed; the message is one line for the user."""


def copied_tables() -> list[Table]:
    """Every store table in dependency order, without ``schema_info`` (the target's own
    migration writes its version)."""
    from feedhub.store import tables  # noqa: F401 — every table registers on metadata

    return [t for t in schema.metadata.sorted_tables if t is not schema.schema_info]


def same_store(a: Engine, b: Engine) -> bool:
    """True when both engines point at one database (one file, or one server database)."""
    ua, ub = a.url, b.url
    if ua.get_backend_name() != ub.get_backend_name():
        return False
    if ua.get_backend_name() == "sqlite":
        return bool(ua.database and ub.database) and (
            Path(ua.database or "").resolve() == Path(ub.database or "").resolve()
        )
    key = ("host", "port", "database")
    return [getattr(ua, k) or "" for k in key] == [getattr(ub, k) or "" for k in key]


def target_url(value: str) -> str:
    """A store URL from ``--to``: a URL as given, or a plain path as a SQLite file."""
    if "://" in value:
        make_url(value)  # raises ArgumentError on nonsense
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def copy_store(
    source: Engine,
    target: Engine,
    *,
    force: bool = False,
    batch: int = DEFAULT_BATCH,
    on_table: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy every row of ``source`` into ``target`` (migrated first), verified by counts.

    ``on_table(name, rows)`` is called after each table. Raises `CopyError` when the target
    is the source, is not empty (without ``force``), or an insert fails.
    """
    if same_store(source, target):
        raise CopyError("the target is the store itself")
    migrate(target)
    tables = copied_tables()
    report = CopyReport()
    with source.connect() as src, target.connect() as dst:
        if src.dialect.name == "postgresql":  # one snapshot for every table
            src = src.execution_options(isolation_level="REPEATABLE READ")
        dst.execution_options(**{WRITE_OPTION: True})
        with src.begin(), dst.begin() as tx:
            versions = schema_version(src), schema_version(dst)
            if versions[0] != versions[1]:
                raise CopyError(f"schema versions differ: source {versions[0]}, "
                                f"target {versions[1]}")
            filled = [t.name for t in tables if _has_rows(dst, t)]
            if filled and not force:
                some = ", ".join(filled[:3]) + (", …" if len(filled) > 3 else "")
                raise CopyError(
                    f"the target store is not empty ({len(filled)} tables hold rows: {some}); "
                    "use an empty database, or --force to replace its rows"
                )
            if filled:
                _clear(dst, tables)
                report.replaced = filled
            expected = {t.name: _count(src, t) for t in tables}
            for t in tables:
                copied = _copy_table(src, dst, t, batch)
                if on_table:
                    on_table(t.name, copied)
            report.sequences = _reset_sequences(dst, tables)
            report.counts = [TableCount(t.name, expected[t.name], _count(dst, t)) for t in tables]
            if not report.ok:
                tx.rollback()
    return report


def _has_rows(conn: Connection, table: Table) -> bool:
    return conn.execute(select(1).select_from(table).limit(1)).first() is not None


def _count(conn: Connection, table: Table) -> int:
    return conn.scalar(select(func.count()).select_from(table)) or 0


def _clear(conn: Connection, tables: list[Table]) -> None:
    """Empty the target's tables (children first), for ``force``."""
    if conn.dialect.name == "postgresql":
        names = ", ".join(conn.dialect.identifier_preparer.format_table(t) for t in tables)
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY")
        return
    for t in reversed(tables):
        conn.execute(t.delete())


def _copy_table(src: Connection, dst: Connection, table: Table, batch: int) -> int:
    """Stream one table's rows (in primary-key order) into the target; returns the rows."""
    query = select(table).order_by(*table.primary_key.columns).execution_options(
        yield_per=batch
    )
    rows = 0
    stmt = insert(table)
    for part in src.execute(query).partitions():
        try:
            dst.execute(stmt, [dict(r._mapping) for r in part])
        except DBAPIError as e:
            raise CopyError(f"copying {table.name}: {first_line(e)}") from None
        rows += len(part)
    return rows


def _reset_sequences(conn: Connection, tables: list[Table]) -> list[str]:
    """Move each PostgreSQL serial/identity sequence past its column's largest copied id.

    Rows were inserted with their ids, which does not advance a sequence: without this the
    next ingest would be handed id 1 and collide. SQLite needs nothing (max(rowid) + 1).
    """
    if conn.dialect.name != "postgresql":
        return []
    moved = []
    prep = conn.dialect.identifier_preparer
    for t in tables:
        for c in t.primary_key.columns:
            seq = conn.scalar(
                text("SELECT pg_get_serial_sequence(:t, :c)"),
                {"t": prep.format_table(t), "c": c.name},
            )
            if seq is None:
                continue
            top = conn.scalar(select(func.max(c)))
            # setval(seq, n, false): the next nextval() returns n.
            conn.execute(text("SELECT setval(:s, :n, false)"), {"s": seq, "n": (top or 0) + 1})
            moved.append(seq)
    return moved


def open_target(url: str) -> Engine:
    """An engine on the target store URL (created if it is a new SQLite file)."""
    from feedhub.store.db import create_store_engine

    return create_store_engine(url)


__all__ = [
    "DEFAULT_BATCH",
    "CopyError",
    "CopyReport",
    "TableCount",
    "copied_tables",
    "copy_store",
    "open_target",
    "same_store",
    "target_url",
]
