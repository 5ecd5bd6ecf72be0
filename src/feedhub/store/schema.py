"""The store's tables (SQLAlchemy Core), portable across SQLite and PostgreSQL.

One ``metadata`` holds every table; stage-specific tables (related lists, dedupe band keys)
live in their own modules in this package and register on the same ``metadata``.
No SQLite-only SQL here, so PostgreSQL can follow (issue "Ingest core", item 6).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the backend stores.

    SQLite keeps no time zone, so values are stored as naive UTC and made aware on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store: use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


schema_info = Table(
    "schema_info",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)

sources = Table(
    "sources",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("kind", String(10), nullable=False),
    Column("position", Integer, nullable=False, default=0),  # config order: dedupe tie-break
    Column("enabled", Boolean, nullable=False, default=True),
    Column("title", Text, nullable=False, default=""),
    Column("link", Text),
    Column("feed_id", Text),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body_hash", String(64)),
    Column("last_fetch", UTCDateTime),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("error_count", Integer, nullable=False, default=0),
    Column("next_due", UTCDateTime),
    Column("moved_to", Text),
    Column("disabled_reason", Text),
    # Several workers on one store (store/leases.py): who is fetching the source now, and
    # until when; after that any worker may take it over (schema 2).
    Column("lease_owner", String(200)),
    Column("lease_until", UTCDateTime),
    Index("ix_sources_next_due", "next_due"),
)

articles = Table(
    "articles",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source_id", Id, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("guid", String(600), nullable=False),
    Column("url", Text),
    Column("canonical_url", Text),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("content", Text, nullable=False, default=""),
    Column("authors", JSON, nullable=False, default=list),
    Column("categories", JSON, nullable=False, default=list),
    Column("published", UTCDateTime, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("changed", UTCDateTime, nullable=False),  # last time the stored row changed
    Column("content_hash", String(64), nullable=False),
    Column("path", Text),  # folder sources: the file the article came from
    Column("cluster_id", Id),  # dedupe: id of the cluster's representative article
    UniqueConstraint("source_id", "guid", name="uq_articles_source_guid"),
    Index("ix_articles_published", "published"),
    Index("ix_articles_canonical_url", "canonical_url"),
    Index("ix_articles_cluster", "cluster_id"),
    Index("ix_articles_changed", "changed"),
)

# Identities of deleted articles (retention, files removed from a folder source), so a
# source that still lists them cannot bring them back (Miniflux does the same).
tombstones = Table(
    "tombstones",
    metadata,
    Column("source_id", Id, ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True),
    Column("guid", String(600), primary_key=True),
    Column("deleted_at", UTCDateTime, nullable=False),
)

article_topics = Table(
    "article_topics",
    metadata,
    Column("article_id", Id, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("topic", String(200), primary_key=True),
    Index("ix_article_topics_topic", "topic"),
)

# Small facts the pipeline keeps between runs (topic-rules digest, related watermark).
meta = Table(
    "meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

# Articles whose related lists must be (re)computed at the next publish: ingest queues
# them in its transaction, publish drains the queue in its own.
pending_related = Table(
    "pending_related",
    metadata,
    Column("article_id", Id, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
)

# Stories: the articles about one news event, over outlets and days (issue 16;
# `feedhub.store.stories` reads and writes them, `feedhub.stories` decides).
STORY_ID_LENGTH = 16  # hex digits of a story id (feedhub.stories.ids)

stories = Table(
    "stories",
    metadata,
    Column("id", String(STORY_ID_LENGTH), primary_key=True),
    # The article that started it (its id is derived from that article's identity); it
    # may expire while the story goes on, so no foreign key.
    Column("founder_id", Id, nullable=False),
    Column("started", UTCDateTime, nullable=False),  # the founder's date
    # What the story's feed was last written from (`feed_states`), so a publish rewrites
    # only the stories that changed since; None: never written.
    Column("published_sig", String(64)),
)

story_articles = Table(
    "story_articles",
    metadata,
    Column("article_id", Id, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "story_id",
        String(STORY_ID_LENGTH),
        ForeignKey("stories.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Index("ix_story_articles_story", "story_id"),
)
