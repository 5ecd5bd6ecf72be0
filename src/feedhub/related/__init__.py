"""Related News: ranking other stored articles for each article, kept current incrementally.

Pure scoring lives in `text` (tokens), `vector` (weights, similarity) and `rank` (choosing
a box); `update` wires them to the term index in `feedhub.store.related`; `run` works
through the queue ingest fills, in short transactions (the CLI and the service run it
before publishing). Every function takes one frozen `Settings` value.
"""

from __future__ import annotations

from sqlalchemy import Connection

from feedhub.related.update import (
    DEFAULT_COUNT,
    DEFAULT_MIN_SCORE,
    DEFAULT_WINDOW,
    Settings,
    rebuild_related,
    refresh_boxes,
    remove_articles,
    update_related,
)
from feedhub.store.related import RelatedItem, related_items


def related_for(conn: Connection, article_id: int) -> list[RelatedItem]:
    """The stored box of one article, most related first (empty when nothing is related)."""
    return related_items(conn, article_id)


__all__ = [
    "DEFAULT_COUNT",
    "DEFAULT_MIN_SCORE",
    "DEFAULT_WINDOW",
    "RelatedItem",
    "Settings",
    "rebuild_related",
    "refresh_boxes",
    "related_for",
    "remove_articles",
    "update_related",
]
