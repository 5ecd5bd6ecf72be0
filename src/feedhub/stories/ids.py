"""A story's id: stable while the story grows, the same after a rebuild that keeps its founder.

Derived from the identity of the article that started the story (source name and guid, as
an entry's atom:id is), so the URL of its feed does not depend on the order rows were
numbered in a store, nor change when later articles join.
"""

from __future__ import annotations

import hashlib

from feedhub.store.stories import STORY_ID_LENGTH


def story_id(source: str, guid: str) -> str:
    """The id of the story that the article (source, guid) starts."""
    key = f"story-of\0{source}\0{guid}".encode("utf-8", "surrogatepass")
    return hashlib.sha1(key).hexdigest()[:STORY_ID_LENGTH]
