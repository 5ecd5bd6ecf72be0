"""Articles in the store: applying one source's changes, tombstones, reading back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select, update

from feedhub.model import Article, ArticleChanges, StoredArticle, article_hash
from feedhub.store import pages
from feedhub.store.batch import chunks, insert_many
from feedhub.store.queue import enqueue
from feedhub.store.schema import articles, sources, tombstones


@dataclass(frozen=True, slots=True)
class Applied:
    """Ids of the rows one source's changes touched (for dedupe, topics, related)."""

    new_ids: tuple[int, ...] = ()
    changed_ids: tuple[int, ...] = ()
    removed_ids: tuple[int, ...] = ()


def existing_hashes(conn: Connection, source_id: int) -> dict[str, str]:
    """``guid → content hash`` of a source's stored articles (what the decider compares)."""
    q = select(articles.c.guid, articles.c.content_hash).where(articles.c.source_id == source_id)
    return {g: h for g, h in conn.execute(q)}


def existing_links(conn: Connection, source_id: int) -> dict[str, str]:
    """``canonical link → guid`` of a source's stored articles, for links that name one
    article only (the decider's evidence of an item reissued under a new guid)."""
    q = select(articles.c.canonical_url, articles.c.guid).where(
        articles.c.source_id == source_id, articles.c.canonical_url.is_not(None)
    )
    out: dict[str, str] = {}
    shared: set[str] = set()
    for link, guid in conn.execute(q):
        if link in out:
            shared.add(link)
        out[link] = guid
    return {k: v for k, v in out.items() if k not in shared}


def tombstoned(conn: Connection, source_id: int) -> set[str]:
    q = select(tombstones.c.guid).where(tombstones.c.source_id == source_id)
    return set(conn.execute(q).scalars())


def apply_changes(
    conn: Connection,
    source_id: int,
    changes: ArticleChanges,
    now: datetime,
    canonical: Mapping[str, str | None],
    hashes: Mapping[str, str] | None = None,
) -> Applied:
    """Insert new articles, update changed ones in place, delete removed ones (tombstoned).

    A missing date becomes the first-seen time and stays so on later updates. ``canonical``
    (guid → canonical URL, a dedupe decision) covers every new and changed article;
    ``hashes`` (guid → ``article_hash``), computed beside the parse, save recomputing them
    here; a guid missing from them is computed.
    """
    new_ids: list[int] = []
    if changes.new:
        rows = []
        for a in changes.new:
            published = a.published or a.updated or now
            rows.append({
                "source_id": source_id, "first_seen": now, "changed": now,
                "published": published, "updated": a.updated or published,
                **article_fields(a, canonical, hashes),
            })
        new_ids = _insert_articles(conn, source_id, rows)
    changed_ids: list[int] = []
    for a in changes.changed:
        row = conn.execute(
            select(articles.c.id, articles.c.first_seen, articles.c.published).where(
                and_(articles.c.source_id == source_id, articles.c.guid == a.guid)
            )
        ).one()
        published = a.published or a.updated or row.published
        conn.execute(
            update(articles)
            .where(articles.c.id == row.id)
            .values(
                changed=now, published=published, updated=a.updated or now,
                **article_fields(a, canonical, hashes),
            )
        )
        changed_ids.append(row.id)
    enqueue(conn, new=new_ids, changed=changed_ids)
    removed_ids: list[int] = []
    if changes.removed:
        removed_ids = delete_articles(conn, source_id, changes.removed, now)
    return Applied(tuple(new_ids), tuple(changed_ids), tuple(removed_ids))


def _insert_articles(conn: Connection, source_id: int, rows: list[dict[str, object]]) -> list[int]:
    """Insert new article rows; their ids in row order."""
    if conn.dialect.name != "sqlite":
        # RETURNING in parameter order maps ids back to rows (SQLAlchemy's batched
        # "insertmanyvalues").
        res = conn.execute(
            articles.insert().returning(articles.c.id, sort_by_parameter_order=True), rows
        )
        return [int(i) for i in res.scalars()]
    # SQLite does not promise the row order of a multi-row INSERT … RETURNING, so the
    # above sends one INSERT per row (10,000 statements for 200 feeds of 50). One
    # executemany, then the ids read back by guid, unique within the source.
    columns = tuple(rows[0])
    values = itemgetter(*columns)
    insert_many(conn, articles, columns, [values(r) for r in rows])
    by_guid: dict[object, int] = {}
    for chunk in chunks([r["guid"] for r in rows], 500):
        q = select(articles.c.guid, articles.c.id).where(
            articles.c.source_id == source_id, articles.c.guid.in_(chunk)
        )
        by_guid.update((g, int(i)) for g, i in conn.execute(q).all())
    return [by_guid[r["guid"]] for r in rows]


def ids_for_guids(conn: Connection, source_id: int, guids: Sequence[str]) -> list[int]:
    return list(
        conn.execute(
            select(articles.c.id).where(
                and_(articles.c.source_id == source_id, articles.c.guid.in_(list(guids)))
            )
        ).scalars()
    )


def delete_articles(
    conn: Connection, source_id: int, guids: Sequence[str], now: datetime
) -> list[int]:
    """Delete articles by guid, leaving tombstones so the source cannot bring them back.

    The dedupe and related indexes must forget the ids first (the ingest runner does).
    """
    ids = ids_for_guids(conn, source_id, guids)
    conn.execute(
        delete(articles).where(
            and_(articles.c.source_id == source_id, articles.c.guid.in_(list(guids)))
        )
    )
    known = tombstoned(conn, source_id)
    rows = [{"source_id": source_id, "guid": g, "deleted_at": now} for g in guids if g not in known]
    if rows:
        conn.execute(tombstones.insert(), rows)
    return ids


def article_fields(
    a: Article,
    canonical: Mapping[str, str | None],
    hashes: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """The stored columns that come from the article itself."""
    return {
        "guid": a.guid,
        "url": a.url,
        "canonical_url": canonical[a.guid],
        "title": a.title,
        "summary": a.summary,
        "content": a.content,
        "authors": list(a.authors),
        "categories": list(a.categories),
        "content_hash": (
            hashes[a.guid] if hashes is not None and a.guid in hashes else article_hash(a)
        ),
        "path": a.path,
    }


def stored_articles(
    conn: Connection, ids: Iterable[int] | None = None, *, analysis: bool = False
) -> list[StoredArticle]:
    """Articles with their source name, newest first; all of them when ``ids`` is None.

    ``analysis``: ``content`` is the article page's text where there is one (full text,
    store/pages.py), for topic rules; publishing reads the stored content.
    """
    q = select(articles, sources.c.name.label("source_name")).join(
        sources, sources.c.id == articles.c.source_id
    )
    if analysis:
        q = pages.with_pages(
            q.add_columns(pages.analysis_content(articles.c.content).label("analysis"))
        )
    if ids is None:
        q = q.order_by(articles.c.published.desc(), articles.c.id.desc())
        return [to_stored(r) for r in conn.execute(q)]
    # A big topic has more stories than SQLite accepts bound variables in one statement.
    out = [
        to_stored(r)
        for chunk in chunks(sorted(set(ids)), 10_000)
        for r in conn.execute(q.where(articles.c.id.in_(chunk)))
    ]
    out.sort(key=lambda a: (a.published, a.id), reverse=True)
    return out


def to_stored(r: object) -> StoredArticle:
    m = r._mapping  # type: ignore[attr-defined]
    return StoredArticle(
        id=m["id"],
        source=m["source_name"],
        guid=m["guid"],
        title=m["title"],
        url=m["url"],
        canonical_url=m["canonical_url"],
        summary=m["summary"],
        content=m["analysis"] if "analysis" in m else m["content"],
        authors=tuple(m["authors"] or ()),
        categories=tuple(m["categories"] or ()),
        published=m["published"],
        updated=m["updated"],
        first_seen=m["first_seen"],
        content_hash=m["content_hash"],
        cluster_id=m["cluster_id"],
    )


def expired(conn: Connection, cutoff: datetime, limit: int) -> list[Any]:
    """(id, source_id, guid) of up to ``limit`` articles both published and first seen
    before ``cutoff``, lowest id first."""
    return list(
        conn.execute(
            select(articles.c.id, articles.c.source_id, articles.c.guid)
            .where(and_(articles.c.first_seen < cutoff, articles.c.published < cutoff))
            .order_by(articles.c.id)
            .limit(limit)
        ).all()
    )


def find_article(
    conn: Connection, article_id: int | None, url: str, canonical: str | None
) -> Any:
    """(id, title, published) of the article with this id (when given), else of one whose
    URL is ``url`` or whose canonical URL is ``canonical``; None when there is none."""
    c = articles.c
    cond = (
        c.id == article_id
        if article_id is not None
        else or_(c.url == url, c.canonical_url == canonical)
    )
    return conn.execute(select(c.id, c.title, c.published).where(cond).limit(1)).first()
