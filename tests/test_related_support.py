"""Helpers for the related-news tests: a real SQLite file store and article rows (no tests)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, insert, select

from feedhub.store import related as _related_tables  # noqa: F401 — registers the tables
from feedhub.store.schema import articles, metadata, sources

DATA = Path(__file__).parent / "data" / "related"


def make_engine(tmp_path: Path, name: str = "store.db") -> Engine:
    engine = create_engine(f"sqlite:///{tmp_path / name}")
    metadata.create_all(engine)
    return engine


def source_id(conn: Connection, name: str = "wire") -> int:
    found = conn.scalar(select(sources.c.id).where(sources.c.name == name))
    if found is not None:
        return found
    return conn.execute(
        insert(sources).values(name=name, url=f"https://{name}.example/feed", kind="http")
    ).inserted_primary_key[0]


def add_article(
    conn: Connection,
    title: str,
    content: str = "",
    published: datetime | str = "2024-04-12",
    *,
    cluster_id: int | None = None,
    source: str = "wire",
) -> int:
    """Insert one article row directly with Core and return its id."""
    when = published if isinstance(published, datetime) else datetime.fromisoformat(published)
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    sid = source_id(conn, source)
    n = conn.scalar(select(articles.c.id).order_by(articles.c.id.desc()).limit(1)) or 0
    return conn.execute(
        insert(articles).values(
            source_id=sid,
            guid=f"guid-{n + 1}",
            url=f"https://{source}.example/{n + 1}",
            title=title,
            summary="",
            content=content,
            authors=[],
            categories=[],
            published=when,
            updated=when,
            first_seen=when,
            changed=when,
            content_hash=f"h{n + 1}",
            cluster_id=cluster_id,
        )
    ).inserted_primary_key[0]


def read_story(path: Path) -> tuple[str, str, str, bool]:
    """(title, date, body, expected-in-box) of a story file in tests/data/related/."""
    header, _, body = path.read_text(encoding="utf-8").partition("\n\n")
    fields = dict(line.split(": ", 1) for line in header.splitlines())
    return fields["title"], fields["date"], body.strip(), fields.get("expect") == "box"
