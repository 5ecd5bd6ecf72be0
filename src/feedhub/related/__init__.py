"""Related News: ranking other stored articles for each article, kept current incrementally.

Pure scoring lives in `text` (tokens), `vector` (weights, similarity) and `rank` (choosing
a box); `update` wires them to the term index in `feedhub.store.related`; `run` works
through the queue ingest fills, in short transactions (the CLI and the service run it
before publishing). Every function takes one frozen `Settings` value.

The names below load `update` (SQLAlchemy, the store) on first use, not on import of the
package: the parse workers import only `semantic` (text vectors), and each paid ~0.23 s of
CPU per `feedhub fetch` for modules it never ran (issue 17).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from feedhub.store.related import RelatedItem

_LAZY = {
    "DEFAULT_COUNT": "feedhub.related.update",
    "DEFAULT_MIN_SCORE": "feedhub.related.update",
    "DEFAULT_WINDOW": "feedhub.related.update",
    "Settings": "feedhub.related.update",
    "rebuild_related": "feedhub.related.update",
    "refresh_boxes": "feedhub.related.update",
    "remove_articles": "feedhub.related.update",
    "update_related": "feedhub.related.update",
    "RelatedItem": "feedhub.store.related",
}


def __getattr__(name: str) -> Any:
    """The names of ``__all__`` from their modules, imported on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def related_for(conn: Connection, article_id: int) -> list[RelatedItem]:
    """The stored box of one article, most related first (empty when nothing is related)."""
    from feedhub.store.related import related_items

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
