"""`feedhub store migrate`: apply the schema migrations explicitly and say what changed.

Every command already migrates when it opens the store (`feedhub.store.db.migrate`); this is
for doing it on purpose — before starting several workers on a PostgreSQL store, or to see
the version a store is at — with the version before and after. (Not named ``migrate.py``: a
submodule of that name would shadow the package's ``migrate`` function that `Store` calls.)
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, inspect, select

from feedhub.store import schema
from feedhub.store.db import SCHEMA_VERSION, migrate


@dataclass(frozen=True, slots=True)
class MigrateReport:
    """Schema versions around one `migrate_engine` call (``before`` None: a new store)."""

    dialect: str
    before: int | None
    after: int | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def schema_version(conn: Connection) -> int | None:
    """The store's schema version, or None when it has no schema yet."""
    if not inspect(conn).has_table(schema.schema_info.name):
        return None
    return conn.execute(select(schema.schema_info.c.version)).scalar()


def migrate_engine(engine: Engine) -> MigrateReport:
    """Bring the store to SCHEMA_VERSION (creating it when empty) and report the versions."""
    with engine.connect() as conn:
        before = schema_version(conn)
    migrate(engine)
    with engine.connect() as conn:
        after = schema_version(conn)
    return MigrateReport(engine.dialect.name, before, after)


__all__ = ["SCHEMA_VERSION", "MigrateReport", "migrate_engine", "schema_version"]
