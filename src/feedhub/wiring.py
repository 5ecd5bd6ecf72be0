"""Config → each stage's own settings values. Stages never read the config file's models.

Keeping the translation here lets fetch, schedule, topics and related stay independent of
the config's shape (and testable with plain values). Each settings value is built here
and nowhere else.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from feedhub import __version__
from feedhub.config import Config
from feedhub.fetch import FetchSettings
from feedhub.schedule import SchedulePolicy
from feedhub.store.topics import refile_if_rules_changed
from feedhub.topics import CompiledRules, TopicRule, rules_digest

if TYPE_CHECKING:
    from feedhub.ingest.pages import PageSettings
    from feedhub.related.update import Settings as RelatedSettings
    from feedhub.stories import Settings as StoriesSettings

USER_AGENT = f"feedhub/{__version__} (+https://github.com/feedhub/feedhub)"


def fetch_settings(config: Config) -> FetchSettings:
    f = config.file.fetch
    return FetchSettings(
        timeout=f.timeout.total_seconds(),
        connect_timeout=f.connect_timeout.total_seconds(),
        max_bytes=f.max_bytes,
        concurrency=f.concurrency,
        per_host=f.per_host,
        user_agent=f.user_agent or USER_AGENT,
        max_redirects=f.max_redirects,
        allow_private_redirects=f.allow_private_redirects,
    )


def page_settings(config: Config) -> PageSettings:
    """How article pages are fetched (full text): the feed fetcher's limits, their own
    per-host cap, retries and robots.txt."""
    from dataclasses import replace

    from feedhub.ingest.pages import PageSettings

    f = config.file.fetch
    fetch = replace(fetch_settings(config), per_host=f.pages_per_host)
    backoff = f.page_backoff.total_seconds()
    # A claim outlives every try of the page and the waits between them, and robots.txt.
    worst = (f.page_retries + 2) * fetch.timeout + backoff * (2 ** f.page_retries)
    return PageSettings(
        fetch=fetch,
        retries=f.page_retries,
        backoff=backoff,
        robots=f.robots_txt,
        lease=timedelta(seconds=max(600.0, 2 * worst)),
    )


def schedule_policy(config: Config) -> SchedulePolicy:
    s = config.file.schedule
    return SchedulePolicy(
        interval=s.interval,
        jitter=s.jitter,
        min_interval=s.min_interval,
        max_interval=s.max_interval,
    )


@dataclass(frozen=True, slots=True)
class Filing:
    """Everything needed to file articles under topics, plus a digest that changes with it."""

    rules: CompiledRules
    forced: dict[str, tuple[str, ...]]  # source name → topics it always files under
    digest: str


def filing(config: Config) -> Filing:
    rules = [
        TopicRule(
            name=t.name,
            keywords=t.keywords,
            exclude=t.exclude,
            sources=t.sources,
            categories=t.categories,
            regex=t.regex,
        )
        for t in config.file.topics
    ]
    forced = {s.name: s.topics for s in config.sources if s.topics}
    payload = json.dumps({"rules": rules_digest(rules), "forced": forced}, sort_keys=True)
    return Filing(CompiledRules(rules), forced, hashlib.sha256(payload.encode()).hexdigest())


def refile_topics(conn: Connection, f: Filing) -> bool:
    """Re-file every stored article when the topic rules changed since the last filing.

    The one place topics are re-filed: ingest calls it before filing new articles, the
    publish pipeline before related and publish (the rules may change without a fetch).
    """
    return refile_if_rules_changed(conn, f.digest, f.rules, f.forced)


def related_settings(config: Config) -> RelatedSettings:
    """The related stage's settings: box size and time window from the config."""
    # Imported here: a refetch where every source answers 304 never loads the related stage.
    from feedhub.related.update import Settings as RelatedSettings

    r = config.file.related
    return RelatedSettings(count=r.count, window=r.window)


def stories_settings(config: Config) -> StoriesSettings:
    """The stories stage's settings: its window and the top stories' span from the config."""
    from feedhub.stories import Settings as StoriesSettings

    st = config.file.stories
    return StoriesSettings(window=st.window)
