"""Bounded ``IN (…)`` lists: one helper for every query that takes many ids; and bulk
inserts without SQLAlchemy's per-row overhead on SQLite (``insert_many``).

SQLite refuses more than 32,766 bound variables in one statement, and long IN lists make
poor plans on both backends, so callers split id lists with ``chunks``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Table

T = TypeVar("T")

DEFAULT_SIZE = 500
# ``insert_many`` sends rows to SQLite's driver itself; False: through SQLAlchemy, as before
# issue 17 (tests/test_ingest_equivalence.py compares the two stores).
DRIVER_INSERTS = True


def chunks(items: Sequence[T], size: int = DEFAULT_SIZE) -> Iterator[Sequence[T]]:
    """Consecutive slices of ``items`` of at most ``size`` elements."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def insert_many(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """INSERT ``rows`` (tuples of ``columns``' values, in that order) into ``table`` in one
    executemany.

    On SQLite the rows go straight to the driver, each value through its column type's own
    bind processor: the values SQLAlchemy would send, without its per-row parameter
    handling, which cost more than SQLite's insert on the ingest path (issue 17: ~300 rows
    per feed of 50 articles, 5.2 → ~3 ms of CPU). Columns left out get no Python-side
    default here: callers give every column that has one. Other backends: SQLAlchemy.
    """
    if not rows:
        return
    if not DRIVER_INSERTS or conn.dialect.paramstyle != "qmark":
        conn.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    sql, processors = _insert_sql(conn.dialect, table, tuple(columns))
    if any(p is not None for p in processors):
        values = [
            col if p is None else list(map(p, col))
            for p, col in zip(processors, zip(*rows, strict=True), strict=True)
        ]
        rows = list(zip(*values, strict=True))
    conn.exec_driver_sql(sql, rows)


@lru_cache(maxsize=64)
def _insert_sql(
    dialect: Dialect, table: Table, columns: tuple[str, ...]
) -> tuple[str, tuple[Callable[[Any], Any] | None, ...]]:
    """The positional (qmark) INSERT of ``columns`` in that order, and each column's bind
    processor (None: sent as is)."""
    # Written out, not compiled: SQLAlchemy renders an INSERT's columns in table order.
    quote = dialect.identifier_preparer
    names = ", ".join(quote.quote(name) for name in columns)
    marks = ", ".join("?" * len(columns))
    sql = f"INSERT INTO {quote.format_table(table)} ({names}) VALUES ({marks})"
    processors = tuple(
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
    )
    return sql, processors
