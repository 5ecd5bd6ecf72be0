"""Stories in the store: which articles report one news event, over outlets and days.

A story here is an event (issue 16): many articles, each with its dedupe copies. The one
article-and-its-copies sense of the word lives in `feedhub.store.copies`. ``stories`` holds
one row per story (its stable id, chosen by `feedhub.stories`), ``story_articles`` which
story each article belongs to. An article without a row there is not clustered yet: the
stories stage (`feedhub.stories.run`) takes those, oldest first, once related has indexed
them. Removing an article (retention, a deleted file) removes its row by cascade; the
stage then drops stories left empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Connection,
    String,
    and_,
    delete,
    distinct,
    func,
    insert,
    or_,
    select,
    update,
)

from feedhub.store.batch import chunks
from feedhub.store.schema import STORY_ID_LENGTH as STORY_ID_LENGTH  # for stories.ids
from feedhub.store.schema import (
    UTCDateTime,
    article_topics,
    articles,
    pending_related,
    sources,
    stories,
    story_articles,
)


@dataclass(frozen=True, slots=True)
class Unassigned:
    """An article waiting for its story, with what the stage needs to place it."""

    id: int
    source: str  # the source's name (with the guid, a founder's identity)
    guid: str
    published: datetime
    cluster_key: int  # its dedupe cluster: the representative's id, or its own


@dataclass(frozen=True, slots=True)
class Summary:
    """One story as listed: size, outlets, dates and the headline that names it."""

    id: str
    title: str  # the headline of its earliest article
    articles: int
    clusters: int  # articles after dedupe (copies count once)
    sources: int
    first: datetime
    last: datetime


@dataclass(frozen=True, slots=True)
class FeedState:
    """What decides whether a story's feed is written again (`feedhub.publish`)."""

    id: str
    clusters: int
    sig: str  # a digest of what the feed shows: members, their copies, their last change
    published_sig: str | None


def unassigned_top(conn: Connection) -> int:
    """The highest article id (0 in an empty store): a run places articles up to it only."""
    return conn.execute(select(func.max(articles.c.id))).scalar() or 0


def unassigned(conn: Connection, upto: int, limit: int) -> list[Unassigned]:
    """Up to ``limit`` articles with no story yet (ids ≤ ``upto``), oldest first, leaving
    out those related has not indexed yet (still queued): their vectors are not there."""
    a, s = articles.c, story_articles.c
    q = (
        select(a.id, sources.c.name, a.guid, a.published, a.cluster_id)
        .join(sources, sources.c.id == a.source_id)
        .outerjoin(story_articles, s.article_id == a.id)
        .where(
            s.article_id.is_(None),
            a.id <= upto,
            a.id.not_in(select(pending_related.c.article_id)),
        )
        .order_by(a.published, a.id)
        .limit(limit)
    )
    return [Unassigned(r.id, r.name, r.guid, r.published, r.cluster_id or r.id)
            for r in conn.execute(q)]


def stories_of(conn: Connection, ids: Iterable[int]) -> dict[int, str]:
    """Article id → its story, for those of ``ids`` placed in one."""
    s = story_articles.c
    out: dict[int, str] = {}
    for chunk in chunks(sorted(set(ids))):
        rows = conn.execute(select(s.article_id, s.story_id).where(s.article_id.in_(chunk)))
        out.update((article_id, story_id) for article_id, story_id in rows)
    return out


def cluster_story(conn: Connection, cluster_key: int) -> str | None:
    """The story of a dedupe cluster (of its lowest-id member placed in one), or None."""
    a, s = articles.c, story_articles.c
    q = (
        select(s.story_id)
        .join(articles, a.id == s.article_id)
        .where(or_(a.id == cluster_key, a.cluster_id == cluster_key))
        .order_by(a.id)
        .limit(1)
    )
    return conn.execute(q).scalar()


def create_story(conn: Connection, story_id: str, founder_id: int, started: datetime) -> None:
    conn.execute(insert(stories).values(id=story_id, founder_id=founder_id, started=started))


def story_exists(conn: Connection, story_id: str) -> bool:
    return conn.execute(select(stories.c.id).where(stories.c.id == story_id)).first() is not None


def join_story(conn: Connection, article_id: int, story_id: str) -> None:
    conn.execute(insert(story_articles).values(article_id=article_id, story_id=story_id))


def move_articles(conn: Connection, ids: Sequence[int], story_id: str) -> None:
    """Put placed articles into another story."""
    for chunk in chunks(sorted(ids)):
        conn.execute(
            update(story_articles)
            .where(story_articles.c.article_id.in_(chunk))
            .values(story_id=story_id)
        )


def split_clusters(conn: Connection) -> dict[int, list[tuple[int, str]]]:
    """Dedupe clusters whose members sit in more than one story (clusters merged after
    their articles were placed): cluster key → (article id, story id) of every member."""
    a, s = articles.c, story_articles.c
    key = func.coalesce(a.cluster_id, a.id)
    split = (
        select(a.cluster_id)
        .join(story_articles, s.article_id == a.id)
        .where(a.cluster_id.is_not(None))
        .group_by(a.cluster_id)
        .having(func.count(distinct(s.story_id)) > 1)
    )
    rows = conn.execute(
        select(key.label("key"), a.id, s.story_id)
        .join(story_articles, s.article_id == a.id)
        .where(or_(a.cluster_id.in_(split), a.id.in_(split)))
        .order_by(key, a.id)
    )
    out: dict[int, list[tuple[int, str]]] = {}
    for k, article_id, story_id in rows:
        out.setdefault(k, []).append((article_id, story_id))
    return out


def drop_empty(conn: Connection) -> int:
    """Delete stories left without articles (all expired or removed); how many went."""
    held = select(story_articles.c.story_id)
    return conn.execute(delete(stories).where(stories.c.id.not_in(held))).rowcount or 0


def published_sigs(conn: Connection) -> dict[str, str]:
    """Story id → what its feed was last written from (`mark_published`), for written ones."""
    c = stories.c
    rows = conn.execute(select(c.id, c.published_sig).where(c.published_sig.is_not(None)))
    return {story_id: sig for story_id, sig in rows}


def clear_stories(conn: Connection) -> None:
    """Forget every story (a rebuild places every article again)."""
    conn.execute(delete(story_articles))
    conn.execute(delete(stories))


def story_members(conn: Connection, story_id: str) -> list[int]:
    """Ids of a story's articles, oldest first."""
    a = articles.c
    q = (
        select(a.id)
        .join(story_articles, story_articles.c.article_id == a.id)
        .where(story_articles.c.story_id == story_id)
        .order_by(a.published, a.id)
    )
    return list(conn.execute(q).scalars())


def summaries(
    conn: Connection, *, topic: str | None = None, ids: Iterable[str] | None = None
) -> list[Summary]:
    """Stories with their sizes and dates, newest last article first; only those with an
    article filed under ``topic`` / only ``ids``, when given."""
    a, s = articles.c, story_articles.c
    key = func.coalesce(a.cluster_id, a.id)
    q = (
        select(
            s.story_id,
            func.count().label("n"),
            func.count(distinct(key)).label("clusters"),
            func.count(distinct(a.source_id)).label("sources"),
            func.min(a.published).label("first"),
            func.max(a.published).label("last"),
        )
        .join(articles, a.id == s.article_id)
        .group_by(s.story_id)
    )
    if topic is not None:
        filed = (
            select(story_articles.c.story_id)
            .join(article_topics, article_topics.c.article_id == story_articles.c.article_id)
            .where(article_topics.c.topic == topic)
        )
        q = q.where(s.story_id.in_(filed))
    wanted = None if ids is None else set(ids)
    rows = [r for r in conn.execute(q) if wanted is None or r.story_id in wanted]
    titles = _earliest_titles(conn, [r.story_id for r in rows])
    out = [
        Summary(r.story_id, titles.get(r.story_id, ""), r.n, r.clusters, r.sources,
                _aware(r.first), _aware(r.last))
        for r in rows
    ]
    return sorted(out, key=lambda x: (x.last, x.id), reverse=True)


def _aware(value: object) -> datetime:
    # Aggregates come back without the column type's conversion (naive on SQLite).
    return UTCDateTime().process_result_value(value, None)  # type: ignore[arg-type, return-value]


def _earliest_titles(conn: Connection, story_ids: Sequence[str]) -> dict[str, str]:
    """Story id → the title of its earliest article (lowest id on equal dates)."""
    a, s = articles.c, story_articles.c
    out: dict[str, str] = {}
    for chunk in chunks(sorted(story_ids)):
        q = (
            select(s.story_id, a.title)
            .join(articles, a.id == s.article_id)
            .where(s.story_id.in_(chunk))
            .order_by(s.story_id, a.published.desc(), a.id.desc())
        )
        # The last row of each story wins: its earliest article.
        out.update((sid, title) for sid, title in conn.execute(q))
    return out


def feed_states(conn: Connection) -> list[FeedState]:
    """Every story with two or more articles after dedupe (those that have a feed), with a
    digest of what its feed is made of: the members, their dedupe clusters and the last
    time any of them changed. One grouped query; at 100k articles it is most of what a
    publish of an unchanged store costs, so the rows stay raw (no date conversion)."""
    a, s = articles.c, story_articles.c
    key = func.coalesce(a.cluster_id, a.id)
    clusters = func.count(distinct(key))
    q = (
        select(
            s.story_id,
            func.count().label("n"),
            clusters.label("clusters"),
            func.sum(a.id).label("ids"),
            func.sum(key).label("keys"),
            # As stored (text on SQLite): a digest needs the value, not a datetime.
            func.max(a.changed, type_=String).label("changed"),
            stories.c.published_sig,
        )
        .join(articles, a.id == s.article_id)
        .join(stories, stories.c.id == s.story_id)
        .group_by(s.story_id, stories.c.published_sig)
        .having(clusters >= 2)
        .order_by(s.story_id)
    )
    return [
        FeedState(r.story_id, r.clusters, f"{r.n}:{r.ids}:{r.keys}:{r.changed}", r.published_sig)
        for r in conn.execute(q)
    ]


def mark_published(conn: Connection, sigs: Mapping[str, str]) -> None:
    """Record what each story's feed was written from (story id → digest)."""
    for story_id, sig in sorted(sigs.items()):
        conn.execute(update(stories).where(stories.c.id == story_id).values(published_sig=sig))


def top_in_window(
    conn: Connection, topic: str, start: datetime, end: datetime
) -> list[tuple[str, int, datetime]]:
    """(story id, outlets, latest date) of the stories with an article filed under
    ``topic`` published in [start, end]; outlets count the distinct sources of all the
    story's articles in that span (a source's copies count once)."""
    a, s = articles.c, story_articles.c
    in_span = and_(a.published >= start, a.published <= end)
    filed = (
        select(s.story_id)
        .join(articles, a.id == s.article_id)
        .join(article_topics, article_topics.c.article_id == a.id)
        .where(article_topics.c.topic == topic, in_span)
    )
    q = (
        select(s.story_id, func.count(distinct(a.source_id)), func.max(a.published))
        .join(articles, a.id == s.article_id)
        .where(in_span, s.story_id.in_(filed))
        .group_by(s.story_id)
    )
    return [(sid, int(n), _aware(last)) for sid, n, last in conn.execute(q)]


def newest_published(conn: Connection, topic: str) -> datetime | None:
    """The date of the newest article filed under ``topic``."""
    filed = select(article_topics.c.article_id).where(article_topics.c.topic == topic)
    value = conn.execute(
        select(func.max(articles.c.published)).where(articles.c.id.in_(filed))
    ).scalar()
    return None if value is None else _aware(value)


def topic_members(conn: Connection, story_ids: Sequence[str], topic: str) -> dict[str, list[int]]:
    """Story id → its articles filed under ``topic``."""
    s = story_articles.c
    out: dict[str, list[int]] = {}
    for chunk in chunks(sorted(story_ids)):
        q = (
            select(s.story_id, s.article_id)
            .join(article_topics, article_topics.c.article_id == s.article_id)
            .where(s.story_id.in_(chunk), article_topics.c.topic == topic)
            .order_by(s.story_id, s.article_id)
        )
        for story_id, article_id in conn.execute(q):
            out.setdefault(story_id, []).append(article_id)
    return out


def members_of(conn: Connection, story_ids: Sequence[str]) -> dict[str, list[int]]:
    """Story id → its article ids (ascending)."""
    s = story_articles.c
    out: dict[str, list[int]] = {}
    for chunk in chunks(sorted(story_ids)):
        q = (
            select(s.story_id, s.article_id)
            .where(s.story_id.in_(chunk))
            .order_by(s.story_id, s.article_id)
        )
        for story_id, article_id in conn.execute(q):
            out.setdefault(story_id, []).append(article_id)
    return out
