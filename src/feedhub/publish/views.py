"""Plain values the renderers take: built by the caller from the store, never read from it.

Keeping the renderer's input to frozen values makes rendering a pure function: same values in,
same bytes out (docs/architecture.md, "Rules").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from feedhub.model import StoredArticle


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """The publishing site: every published URL is ``base_url`` + a relative path."""

    title: str
    base_url: str  # absolute, ends with "/"
    author: str
    websub_hub: str | None = None

    def __post_init__(self) -> None:
        # Joining relies on the trailing slash; fail at construction, not in a reader's 404.
        if not self.base_url.endswith("/"):
            raise ValueError(f"SiteInfo.base_url must end with '/': {self.base_url!r}")


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """One topic as published: its feed is ``{base_url}{slug}.atom``."""

    slug: str
    title: str
    subtitle: str = ""


@dataclass(frozen=True, slots=True)
class RelatedLink:
    """One entry of an article's Related News box (chosen by relevance upstream)."""

    article_id: int
    title: str  # plain text
    url: str
    published: datetime


@dataclass(frozen=True, slots=True)
class SourceRef:
    """The origin feed of an article, rendered as atom:source."""

    name: str  # the source's config name (stable, used in derived ids)
    title: str
    link: str | None  # the source site's home page
    feed_url: str | None  # the source feed's URL; None when it is not public (see source_refs)
    feed_id: str | None  # the source feed's own atom:id / guid, when it had one


@dataclass(frozen=True, slots=True)
class CopyRef:
    """Another source's copy of the same story (dedupe cluster): "Also reported by"."""

    source_title: str
    url: str


@dataclass(frozen=True, slots=True)
class EntryView:
    """Everything the renderer needs for one Atom entry."""

    article: StoredArticle
    source: SourceRef
    related: tuple[RelatedLink, ...] = ()  # relevance order, most relevant first
    copies: tuple[CopyRef, ...] = ()
    # The story (news event) it belongs to, when that story has a feed of its own (two or
    # more articles after dedupe): the entry links to it, "Follow this story".
    story_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoryInfo:
    """A story with a feed of its own: ``{base_url}stories/{id}.atom``."""

    id: str
    title: str  # plain text: the headline of its earliest article


@dataclass(frozen=True, slots=True)
class TopStory:
    """One entry of a topic's top stories: the story, its representative article and the
    outlets that covered it in the window (each counted once)."""

    story_id: str
    view: EntryView  # the representative article (with its copies)
    sources: tuple[str, ...]  # titles of the outlets, sorted
    followable: bool  # the story has a feed (two or more articles after dedupe)


@dataclass(frozen=True, slots=True)
class ArchiveLinks:
    """RFC 5005 links of one document of an archived feed (absolute URLs).

    For the subscription document only ``prev_archive`` is set. An archive document sets
    ``self_url`` (its own URL) and ``current`` (the subscription document), which also makes
    the renderer add ``fh:archive``.
    """

    prev_archive: str | None = None
    next_archive: str | None = None
    current: str | None = None
    self_url: str | None = None

    @property
    def is_archive(self) -> bool:
        return self.self_url is not None


@dataclass(frozen=True, slots=True)
class Headline:
    """One latest headline of a topic on index.html."""

    title: str  # plain text
    url: str | None
    published: datetime
    source_title: str = ""


@dataclass(frozen=True, slots=True)
class TopicListing:
    """A topic with its latest headlines (newest first), for index.html."""

    topic: TopicInfo
    headlines: tuple[Headline, ...] = ()
