"""What a topic document (subscription feed, open archive, top stories) was last written
from, and the cheap stamps a publish compares against it (issue 17: a publish with nothing
new renders no topic document).

The signatures live in the ``meta`` table (one row per document path, key ``doc_sig:`` +
a digest of the path, value ``<sig> <path>``): no new table, no schema version. The stamps
are read from light columns only (ids, dates, cluster ids), never an article's text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, String, func, select, type_coerce

from feedhub.store.batch import chunks
from feedhub.store.meta import set_meta
from feedhub.store.related import related_docs, related_links
from feedhub.store.schema import article_topics, articles, meta, sources

PREFIX = "doc_sig:"


@dataclass(frozen=True, slots=True)
class Stamp:
    """An article as a topic document's plan and signature need it: no text."""

    id: int
    source: str  # the source's name
    published: datetime
    url: str | None  # a Related News box links only to a representative with one
    cluster_id: int | None  # dedupe: the representative's id
    stamp: str  # changes whenever what a feed shows of the article can change


def _key(path: str) -> str:
    return PREFIX + hashlib.sha1(path.encode("utf-8", "surrogatepass")).hexdigest()


def _columns() -> tuple[object, ...]:
    a = articles.c
    # As stored (text on SQLite): a digest needs the value, not a datetime conversion.
    return (
        a.id,
        sources.c.name,
        a.published,
        a.url,
        type_coerce(a.changed, String).label("changed"),
        type_coerce(a.published, String).label("published_raw"),
        a.cluster_id,
    )


def _stamp(r: object) -> Stamp:
    # `changed` moves with every ingest change (title, url, body, dates); the published
    # date (full text may set it) and the cluster (dedupe) can change without it.
    return Stamp(r.id, r.name, r.published, r.url, r.cluster_id,  # type: ignore[attr-defined]
                 f"{r.changed}|{r.published_raw}|{r.cluster_id}")  # type: ignore[attr-defined]


def topic_stamps(conn: Connection, topic: str) -> list[Stamp]:
    """The stamps of a topic's stories: the representative of each cluster one of its
    articles is in (as `copies.topic_story_ids`), in one query of light columns."""
    a = articles.c
    member = articles.alias("member")
    reps = (
        select(func.coalesce(member.c.cluster_id, member.c.id))
        .join(article_topics, article_topics.c.article_id == member.c.id)
        .where(article_topics.c.topic == topic)
    )
    q = (
        select(*_columns())  # type: ignore[call-overload]
        .join(sources, sources.c.id == a.source_id)
        .where(a.id.in_(reps))
    )
    return [_stamp(r) for r in conn.execute(q)]


def article_stamps(conn: Connection, ids: Iterable[int]) -> dict[int, Stamp]:
    """Article id → its stamp, for those of ``ids`` that exist."""
    a = articles.c
    out: dict[int, Stamp] = {}
    for chunk in chunks(sorted(set(ids))):
        q = (
            select(*_columns())  # type: ignore[call-overload]
            .join(sources, sources.c.id == a.source_id)
            .where(a.id.in_(chunk))
        )
        out.update((r.id, _stamp(r)) for r in conn.execute(q))
    return out


@dataclass(frozen=True, slots=True)
class LinkStamp:
    """One stored Related News link as a signature needs it: the story (representative)
    it leads to, with that representative's URL and stamp."""

    story: int
    url: str | None
    stamp: str


def link_stamps(conn: Connection, ids: Iterable[int]) -> dict[int, list[LinkStamp]]:
    """Article id → its stored box's links, best first, each with its story's
    representative (the links `store.related.read_boxes` returns, their stories resolved
    as `copies.story_of` does), in one query per chunk; no dates converted, no text."""
    lk = related_links.c
    linked = articles.alias("linked")
    rep = articles.alias("rep")
    story = func.coalesce(linked.c.cluster_id, linked.c.id)
    out: dict[int, list[LinkStamp]] = {}
    for chunk in chunks(sorted(set(ids))):
        q = (
            select(
                lk.article_id, story.label("story"), rep.c.url,
                type_coerce(rep.c.changed, String).label("changed"),
                type_coerce(rep.c.published, String).label("published"), rep.c.cluster_id,
            )
            .join(related_docs, related_docs.c.article_id == lk.related_id)
            .join(linked, linked.c.id == lk.related_id)
            .join(rep, rep.c.id == story)
            .where(lk.article_id.in_(chunk))
            .order_by(lk.article_id, lk.rank)
        )
        for r in conn.execute(q):
            out.setdefault(r.article_id, []).append(
                LinkStamp(r.story, r.url, f"{r.changed}|{r.published}|{r.cluster_id}")
            )
    return out


def doc_sigs(conn: Connection) -> dict[str, str]:
    """Document path → the signature it was last written from."""
    rows = conn.execute(select(meta.c.value).where(meta.c.key.startswith(PREFIX, autoescape=True)))
    out: dict[str, str] = {}
    for (value,) in rows:
        sig, _, path = value.partition(" ")
        out[path] = sig
    return out


def mark_docs(conn: Connection, sigs: Mapping[str, str | None]) -> None:
    """Record what each document was written from (path → signature); call it only once
    the files are durably on disk, so a crash before leaves them to be written again."""
    for path, sig in sorted(sigs.items()):
        if sig is not None:
            set_meta(conn, _key(path), f"{sig} {path}")


def forget_docs(conn: Connection, paths: Iterable[str]) -> None:
    """Drop the signatures of documents no longer published (a topic removed)."""
    keys = [_key(p) for p in paths]
    for chunk in chunks(sorted(keys)):
        conn.execute(meta.delete().where(meta.c.key.in_(chunk)))
