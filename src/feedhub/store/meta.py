"""Key/value facts kept between runs (which topic rules filed the articles, and so on)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from feedhub.store.schema import meta


def get_meta(conn: Connection, key: str) -> str | None:
    return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()


def set_meta(conn: Connection, key: str, value: str) -> None:
    if conn.execute(meta.update().where(meta.c.key == key).values(value=value)).rowcount == 0:
        conn.execute(meta.insert().values(key=key, value=value))


def delete_meta(conn: Connection, key: str) -> None:
    conn.execute(meta.delete().where(meta.c.key == key))
