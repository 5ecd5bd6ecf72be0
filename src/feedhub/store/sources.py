"""Sources in the store: syncing them with the config, reading and updating fetch state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime

from sqlalchemy import Connection, func, select, update

from feedhub.model import FetchState, Source, SourceInfo, SourceKind, SourceUpdate
from feedhub.store.advisory import SYNC_LOCK, xact_lock
from feedhub.store.schema import articles, sources

REMOVED_FROM_CONFIG = "removed from the config"



def sync_sources(conn: Connection, configured: Sequence[Source], now: datetime) -> None:
    """Make the sources table follow the config: add new names, update changed URLs/flags.

    Sources removed from the config are disabled, not deleted: their articles stay, and
    adding the name back resumes them. A URL edited in the config resets the fetch state
    (validators describe the old URL). A source disabled by a 410 stays disabled until its
    URL is changed.

    Workers starting (or reloading) together take turns (an advisory transaction lock on
    PostgreSQL), so each sees the rows the one before it added instead of inserting the
    same names again.
    """
    xact_lock(conn, SYNC_LOCK)
    rows = {r.name: r for r in conn.execute(select(sources))}
    for src in configured:
        row = rows.pop(src.name, None)
        if row is None:
            conn.execute(
                sources.insert().values(
                    name=src.name,
                    url=src.url,
                    kind=src.kind.value,
                    position=src.position,
                    enabled=src.enabled,
                    title=src.title or "",
                    error_count=0,
                    next_due=now,
                )
            )
            continue
        values: dict[str, object] = {"position": src.position}
        if row.url != src.url or row.kind != src.kind.value:
            values.update(
                url=src.url,
                kind=src.kind.value,
                etag=None,
                last_modified=None,
                body_hash=None,
                moved_to=None,
                error_count=0,
                last_error=None,
                disabled_reason=None,
                next_due=now,
                enabled=src.enabled,
            )
        elif row.disabled_reason and row.disabled_reason != REMOVED_FROM_CONFIG:
            values["enabled"] = False  # 410: stays off until the operator changes the URL
        else:
            values.update(enabled=src.enabled, disabled_reason=None)
        if src.title:
            values["title"] = src.title
        conn.execute(update(sources).where(sources.c.id == row.id).values(**values))
    for row in rows.values():
        if row.enabled or row.disabled_reason is None:
            conn.execute(
                update(sources)
                .where(sources.c.id == row.id)
                .values(enabled=False, disabled_reason=REMOVED_FROM_CONFIG)
            )


def source_infos(conn: Connection, names: Sequence[str] | None = None) -> list[SourceInfo]:
    """Sources with their fetch state and article counts, in config order."""
    counts = (
        select(articles.c.source_id, func.count().label("n"))
        .group_by(articles.c.source_id)
        .subquery()
    )
    q = (
        select(sources, func.coalesce(counts.c.n, 0).label("article_count"))
        .outerjoin(counts, counts.c.source_id == sources.c.id)
        .order_by(sources.c.position, sources.c.name)
    )
    if names is not None:
        q = q.where(sources.c.name.in_(list(names)))
    return [_info(r) for r in conn.execute(q)]


def source_id(conn: Connection, name: str) -> int | None:
    return conn.execute(select(sources.c.id).where(sources.c.name == name)).scalar()


def apply_source_update(conn: Connection, name: str, upd: SourceUpdate) -> None:
    """Write one fetch's outcome; ``None`` feed metadata keeps the stored values."""
    # Shallow: asdict would deep-copy every datetime, for values that are only read.
    values = {f.name: getattr(upd, f.name) for f in fields(upd)}
    for key in ("title", "link", "feed_id"):
        if values[key] is None:
            del values[key]
    conn.execute(update(sources).where(sources.c.name == name).values(**values))


def _info(r: object) -> SourceInfo:
    m = r._mapping  # type: ignore[attr-defined]
    return SourceInfo(
        name=m["name"],
        url=m["url"],
        kind=SourceKind(m["kind"]),
        enabled=bool(m["enabled"]),
        title=m["title"] or "",
        link=m["link"],
        feed_id=m["feed_id"],
        state=FetchState(
            etag=m["etag"], last_modified=m["last_modified"], body_hash=m["body_hash"]
        ),
        last_fetch=m["last_fetch"],
        last_status=m["last_status"],
        last_error=m["last_error"],
        error_count=m["error_count"] or 0,
        next_due=m["next_due"],
        moved_to=m["moved_to"],
        disabled_reason=m["disabled_reason"],
        article_count=m["article_count"],
    )


def count_in_error(conn: Connection) -> int:
    """How many enabled sources failed their last fetch."""
    q = select(func.count()).where(sources.c.enabled, sources.c.last_error.is_not(None))
    return int(conn.execute(q).scalar() or 0)
