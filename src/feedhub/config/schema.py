"""The config file's schema (pydantic): every key, its type, default and validation.

Key names are a compatibility promise: configs written today must keep working
(issue "Ingest core", item 2). Unknown keys are errors, so a typo never passes silently.
"""

from __future__ import annotations

import re
from datetime import timedelta
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from feedhub.config.units import parse_duration, parse_fraction, parse_size

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
Fraction = Annotated[float, BeforeValidator(parse_fraction)]
# What to do with each article's own page (issue 15): nothing, read it for dedupe, topics and
# related news, or also publish it as the entry's content.
# YAML 1.1 reads a bare ``off`` as false: that is the word the user wrote.
FullTextMode = Annotated[
    Literal["off", "analyze", "publish"],
    BeforeValidator(lambda v: "off" if v is False else v),
]

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SLUG_HELP = "use lowercase letters, digits, '-' or '_' (at most 64 characters)"


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(f"invalid name {value!r}: {_SLUG_HELP}")
    return value


Slug = Annotated[str, BeforeValidator(lambda v: _slug(v) if isinstance(v, str) else v)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class SiteConfig(Strict):
    title: str = "feedhub"
    base_url: str = "http://127.0.0.1:8080/"
    author: str = "feedhub"
    websub_hub: str | None = None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"base_url must be an absolute http(s) URL, got {v!r}")
        return v if v.endswith("/") else v + "/"


class StoreConfig(Strict):
    """``store: data/feedhub.db`` (a SQLite path) or ``store: {url: postgresql://…}``."""

    url: str

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", v):
            raise ValueError(f"unsupported store URL {v!r}: use a SQLite path or postgresql://")
        return v


class OutputConfig(Strict):
    dir: str = "feeds"
    entries_per_feed: int = Field(50, ge=1, le=10_000)


class FetchConfig(Strict):
    timeout: Duration = timedelta(seconds=30)
    connect_timeout: Duration = timedelta(seconds=10)
    max_bytes: Size = 10 * 1024 * 1024
    concurrency: int = Field(20, ge=1, le=1000)
    per_host: int = Field(2, ge=1, le=100)
    user_agent: str | None = None
    max_redirects: int = Field(5, ge=0, le=20)
    allow_private_redirects: bool = False
    # Entries kept per parsed feed, newest first: a 100,000-entry feed is a bounded partial
    # ingest (issue 6) instead of 100,000 rows, dedupe and related work in one transaction.
    max_entries: int = Field(2_000, ge=1, le=1_000_000)
    # Article pages (full text, issue 15). ``full_text``: the default of every source's
    # ``full_text``. Pages go through the same limits as feeds (timeout, max_bytes, redirects,
    # the SSRF guard, which applies to a page's first hop too: its URL comes from a feed).
    full_text: FullTextMode = "off"
    pages_per_host: int = Field(1, ge=1, le=100)  # page requests in flight per host
    pages_per_source: int | None = Field(None, ge=1)  # per source and ingest; None: every new one
    page_retries: int = Field(2, ge=0, le=10)  # after a failure that may pass (timeout, 5xx, 429)
    page_backoff: Duration = timedelta(seconds=1)  # before the first retry; doubled each time
    robots_txt: bool = True  # honour robots.txt (fetched once per host, cached) before a page


class ScheduleConfig(Strict):
    interval: Duration = timedelta(minutes=30)
    jitter: Fraction = 0.1
    min_interval: Duration = timedelta(seconds=1)
    max_interval: Duration = timedelta(days=1)  # cap on backoff and feed hints
    # How long a worker's claim on a due source holds (several workers on PostgreSQL);
    # None: twice fetch.timeout, at least 60 s (store/leases.py).
    lease: Duration | None = None


class RelatedConfig(Strict):
    count: int = Field(3, ge=0, le=20)
    window: Duration = timedelta(days=90)


class StoriesConfig(Strict):
    """Stories (issue 16): ``window`` — how long a story stays open after its latest
    articles; ``top_window`` — the span over which top stories count their sources."""

    window: Duration = timedelta(days=3)
    top_window: Duration = timedelta(hours=24)
    top_count: int = Field(20, ge=1, le=500)

    @field_validator("window", "top_window")
    @classmethod
    def _span(cls, v: timedelta) -> timedelta:
        if not timedelta(hours=1) <= v <= timedelta(days=365):
            raise ValueError(f"must be between 1h and 365d, got {v}")
        return v


class DedupeConfig(Strict):
    enabled: bool = True
    window: Duration = timedelta(days=7)


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # A request's head must arrive within this (a slow-loris client holds no socket for
    # longer); also how long an idle keep-alive connection stays open.
    read_timeout: Duration = timedelta(seconds=15)
    # Open connections at most; 0: derived from the process's open-file limit.
    max_connections: int = Field(0, ge=0)


class RetentionConfig(Strict):
    max_age: Duration = timedelta(days=180)


class SourceConfig(Strict):
    name: Slug
    url: str
    title: str | None = None
    interval: Duration | None = None
    topics: tuple[Slug, ...] = ()
    enabled: bool = True
    full_text: FullTextMode | None = None  # None: fetch.full_text

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        m = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", v)
        if m and m.group(1).lower() not in ("http", "https", "file"):
            raise ValueError(
                f"unsupported URL scheme {m.group(1)!r} in {v!r}: "
                "use http://, https://, file:// or a path"
            )
        if not v:
            raise ValueError("url must not be empty")
        return v


class TopicConfig(Strict):
    name: Slug
    title: str
    subtitle: str = ""
    keywords: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    sources: tuple[Slug, ...] = ()
    categories: tuple[str, ...] = ()
    regex: str | None = None

    @field_validator("regex")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"invalid regular expression: {e}") from None
        return v


class ConfigFile(Strict):
    """The whole file. Cross-references are checked after the fields themselves."""

    site: SiteConfig = SiteConfig()
    store: StoreConfig = StoreConfig(url="sqlite:///data/feedhub.db")
    output: OutputConfig = OutputConfig()
    fetch: FetchConfig = FetchConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    related: RelatedConfig = RelatedConfig()
    stories: StoriesConfig = StoriesConfig()
    dedupe: DedupeConfig = DedupeConfig()
    server: ServerConfig = ServerConfig()
    retention: RetentionConfig = RetentionConfig()
    sources: tuple[SourceConfig, ...] = ()
    topics: tuple[TopicConfig, ...] = ()

    @field_validator("store", mode="before")
    @classmethod
    def _store_path(cls, v: Any) -> Any:
        # A bare string is a SQLite path (the documented short form); the loader has
        # already made it absolute against the config file's folder.
        if isinstance(v, str):
            return {"url": v if "://" in v else f"sqlite:///{v}"}
        return v


def known_keys(loc: tuple[str | int, ...]) -> list[str]:
    """The keys allowed in the mapping at ``loc`` (``("sources", 3)`` → a source's keys),
    for "did you mean" hints; empty when ``loc`` is not a mapping of the schema."""
    model: Any = ConfigFile
    for part in loc:
        if isinstance(part, int):
            args = [a for a in get_args(model) if a is not Ellipsis]
            model = args[0] if len(args) == 1 else None
            continue
        field = model.model_fields.get(part) if _is_model(model) else None
        if field is None:
            return []
        model = field.annotation
        if get_origin(model) in (Union, UnionType):  # `X | None`
            model = next((a for a in get_args(model) if a is not type(None)), None)
    return list(model.model_fields) if _is_model(model) else []


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)
