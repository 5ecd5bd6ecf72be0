"""Topic membership in the store: filing articles under topics, re-filing on rule changes."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Protocol

from sqlalchemy import Connection, delete, func, select

from feedhub.model import StoredArticle
from feedhub.store.articles import stored_articles
from feedhub.store.batch import insert_many
from feedhub.store.meta import get_meta, set_meta
from feedhub.store.schema import article_topics, articles

RULES_KEY = "topic_rules_digest"


class CompiledRules(Protocol):
    """What the store needs of the topics stage's rules (``feedhub.topics.CompiledRules``):
    the filing decision stays there, the store only persists its answer."""

    def match(
        self, article: StoredArticle, source_name: str, forced: Iterable[str] = ()
    ) -> frozenset[str]: ...


def file_articles(
    conn: Connection,
    ids: Sequence[int],
    rules: CompiledRules,
    forced: Mapping[str, Sequence[str]],
    topics: Mapping[int, Collection[str]] | None = None,
    new: Collection[int] = (),
) -> None:
    """(Re)compute the topics of the given articles; ``forced`` maps source → its topics.

    ``topics`` (article id → its topics, from ``rules.match`` with the forced ones) are
    taken as given: the ingest runner matches beside the parse, so the write transaction
    only reads back the articles it was not given. ``new``: ids just inserted, which have
    no topics to delete.
    """
    if not ids:
        return
    old = [i for i in ids if i not in new]
    if old:
        conn.execute(delete(article_topics).where(article_topics.c.article_id.in_(old)))
    known = topics or {}
    found = {i: known[i] for i in ids if i in known}
    missing = [i for i in ids if i not in found]
    if missing:
        for a in stored_articles(conn, missing, analysis=True):
            found[a.id] = rules.match(a, a.source, forced.get(a.source, ()))
    rows = [(i, t) for i in dict.fromkeys(ids) if i in found for t in sorted(found[i])]
    insert_many(conn, article_topics, ("article_id", "topic"), rows)


def refile_if_rules_changed(
    conn: Connection,
    digest: str,
    rules: CompiledRules,
    forced: Mapping[str, Sequence[str]],
    *,
    batch: int = 1000,
) -> bool:
    """Re-file every article when the rules (or forced topics) changed since the last filing."""
    if get_meta(conn, RULES_KEY) == digest:
        return False
    all_ids = list(conn.execute(select(articles.c.id).order_by(articles.c.id)).scalars())
    conn.execute(delete(article_topics))
    for i in range(0, len(all_ids), batch):
        file_articles(conn, all_ids[i : i + batch], rules, forced)
    set_meta(conn, RULES_KEY, digest)
    return True


def topic_counts(conn: Connection) -> dict[str, tuple[int, object]]:
    """Topic → (story count — copies of one story count once —, newest change)."""
    story = func.coalesce(articles.c.cluster_id, articles.c.id)
    q = (
        select(article_topics.c.topic, func.count(story.distinct()), func.max(articles.c.changed))
        .join(articles, articles.c.id == article_topics.c.article_id)
        .group_by(article_topics.c.topic)
    )
    return {t: (n, changed) for t, n, changed in conn.execute(q)}
