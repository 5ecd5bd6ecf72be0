"""Stories: the articles about one news event, from every outlet and every day it runs.

`cluster` decides (pure: which story a new article joins, by the related similarity of
words, text vectors and time), `ids` names a story, `run` places the articles ingest stored
into stories through `feedhub.store.stories`, and rebuilds them. Per-story feeds and the top
stories of each topic are rendered by `feedhub.publish`.
"""

from feedhub.stories.cluster import DEFAULT_SETTINGS, Settings

__all__ = ["DEFAULT_SETTINGS", "Settings"]
