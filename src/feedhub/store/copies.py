"""Reading dedupe clusters back for publishing: a topic's representatives, the clusters of
linked articles, an article's other copies, the articles of folder sources, the sources' rows.

"Story" in the names here (and in the entry ids ``tag:feedhub,2024:story/…``, kept as
published) means one article and its dedupe copies. A story that runs over many articles and
days (an event) is `feedhub.store.stories`; this module was ``store/stories.py`` before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select

from feedhub.model import SourceKind
from feedhub.store.batch import chunks
from feedhub.store.schema import article_topics, articles, sources


def source_rows(conn: Connection) -> list[Any]:
    """Every row of ``sources``."""
    return list(conn.execute(select(sources)))


def topic_story_ids(conn: Connection, topic: str) -> set[int]:
    """A topic's stories: the representative of each cluster one of its articles is in."""
    member_ids = select(article_topics.c.article_id).where(article_topics.c.topic == topic)
    rep_ids = set(
        conn.execute(
            select(articles.c.cluster_id, articles.c.id).where(articles.c.id.in_(member_ids))
        ).all()
    )
    return {cluster or aid for cluster, aid in rep_ids}


def story_of(conn: Connection, ids: Iterable[int]) -> dict[int, int]:
    """Article id → the id of its story's representative (its own when it has no cluster)."""
    out: dict[int, int] = {}
    for chunk in chunks(sorted(ids)):
        out.update(
            (i, c or i)
            for i, c in conn.execute(
                select(articles.c.id, articles.c.cluster_id).where(articles.c.id.in_(chunk))
            )
        )
    return out


def copy_rows(conn: Connection, rep_ids: Sequence[int]) -> list[tuple[int, str | None, str]]:
    """(representative id, url, source name) of the other copies of the given stories, in
    config order of their sources."""
    q = (
        select(articles.c.cluster_id, articles.c.url, sources.c.name)
        .join(sources, sources.c.id == articles.c.source_id)
        .where(articles.c.cluster_id.in_(list(rep_ids)), articles.c.id != articles.c.cluster_id)
        .order_by(articles.c.cluster_id, sources.c.position, articles.c.id)
    )
    return [(cluster, url, name) for cluster, url, name in conn.execute(q)]


def folder_article_ids(conn: Connection) -> list[int]:
    """Ids of every article of a folder source (they get pages of their own)."""
    ids = (
        select(articles.c.id)
        .join(sources, sources.c.id == articles.c.source_id)
        .where(sources.c.kind == SourceKind.FOLDER.value)
    )
    return list(conn.execute(ids).scalars().all())
