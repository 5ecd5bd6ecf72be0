"""The decider: old source state + what a fetch returned → the changes the store applies.

Pure functions (after lemon24/reader's ``_update`` decider): no clock, no socket, no store.
The runner calls ``decide_fetch`` first (does the body need parsing?), parses off the event
loop when it does, then ``decide_articles`` and ``parse_failed`` finish the plan.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from feedhub.model import (
    Article,
    ArticleChanges,
    FetchResult,
    ParsedFeed,
    SourceInfo,
    SourceUpdate,
    article_hash,
)
from feedhub.schedule import SchedulePolicy, next_due

MAX_GUID = 500  # the store's guid column holds 600; longer ids are hashed


def stored_at(update: SourceUpdate, decided: datetime, now: datetime) -> SourceUpdate:
    """``update`` as written at ``now``: the interval runs from when the outcome is stored.

    The decision is made right after the fetch; behind a backlog (the first sweep of 1,000
    new sources parses for a minute) the write comes much later, and a due time counted
    from the fetch was already past when written: the soak benchmark saw every early
    source refetched ~15 s "late", right after its first result landed. Counting from the
    write keeps one interval between a source's stored result and its next fetch.
    """
    lag = now - decided
    if lag <= timedelta(0):
        return update
    return replace(update, next_due=update.next_due + lag)


@dataclass(frozen=True, slots=True)
class FetchDecision:
    """Whether to parse the body, and the source update to apply if we do not."""

    parse: bool
    body_hash: str | None
    update: SourceUpdate


def body_hash(result: FetchResult, salt: str = "") -> str | None:
    """A digest of what was fetched: the body, or a folder's whole snapshot.

    ``salt`` covers inputs of the parse besides the bytes: a folder's articles get URLs
    under ``site.base_url``, so a new base URL must re-parse an unchanged folder.
    """
    h = hashlib.sha256(salt.encode())
    if result.files is not None:
        for f in result.files:
            h.update(f.path.encode("utf-8", "surrogateescape") + b"\0")
            h.update(hashlib.sha256(f.body).digest())
        return h.hexdigest()
    if result.body is None:
        return None
    h.update(result.body)
    return h.hexdigest()


def decide_fetch(
    source: SourceInfo,
    result: FetchResult,
    *,
    now: datetime,
    interval: timedelta,
    policy: SchedulePolicy,
    salt: str = "",
) -> FetchDecision:
    """Classify a fetch: failed, not modified, unchanged body, or a body to parse."""
    state = source.state
    if result.error is not None:
        errors = source.error_count + 1
        update = SourceUpdate(
            last_fetch=now,
            last_status=result.status,
            last_error=result.error,
            error_count=errors,
            next_due=next_due(
                source.name,
                now,
                interval,
                policy,
                error_count=errors,
                retry_after=result.retry_after,
            ),
            # Failed fetches keep the old validators: they describe the body we hold.
            etag=state.etag,
            last_modified=state.last_modified,
            body_hash=state.body_hash,
            moved_to=result.moved_to or source.moved_to,
            enabled=not result.gone,
            disabled_reason="HTTP 410 Gone: the source was removed upstream"
            if result.gone
            else None,
        )
        return FetchDecision(parse=False, body_hash=None, update=update)

    digest = state.body_hash if result.not_modified else body_hash(result, salt)
    update = SourceUpdate(
        last_fetch=now,
        last_status=result.status,
        last_error=None,
        error_count=0,
        next_due=next_due(
            source.name,
            now,
            interval,
            policy,
            retry_after=result.retry_after,
            max_age=result.max_age,
        ),
        # Always store the newest validators, even when the body did not change:
        # reader only stored them on change, which re-downloads forever.
        etag=result.etag or (state.etag if result.not_modified else None),
        last_modified=result.last_modified
        or (state.last_modified if result.not_modified else None),
        body_hash=digest,
        moved_to=result.moved_to or source.moved_to,
    )
    unchanged = result.not_modified or (digest is not None and digest == state.body_hash)
    return FetchDecision(parse=not unchanged, body_hash=digest, update=update)


def parse_failed(
    source: SourceInfo,
    decision: FetchDecision,
    error: str,
    *,
    now: datetime,
    interval: timedelta,
    policy: SchedulePolicy,
) -> SourceUpdate:
    """The update when the body could not be parsed: an error, validators left as they were.

    Keeping the old validators and body hash means the next fetch downloads and tries
    again instead of getting a 304 and believing the source is healthy.
    """
    errors = source.error_count + 1
    return replace(
        decision.update,
        last_error=error,
        error_count=errors,
        next_due=next_due(source.name, now, interval, policy, error_count=errors),
        etag=source.state.etag,
        last_modified=source.state.last_modified,
        body_hash=source.state.body_hash,
    )


def parsed_update(
    decision: FetchDecision,
    parsed: ParsedFeed,
    *,
    source: SourceInfo,
    now: datetime,
    interval: timedelta,
    policy: SchedulePolicy,
) -> SourceUpdate:
    """The update after a successful parse: feed metadata and the feed's ``<ttl>`` hint."""
    update = decision.update
    if parsed.ttl is not None:
        update = replace(
            update,
            next_due=max(
                update.next_due, next_due(source.name, now, interval, policy, ttl=parsed.ttl)
            ),
        )
    return replace(
        update,
        last_error=None,  # a bozo warning is not an error: the feed was read
        title=parsed.title or None,
        link=parsed.link,
        feed_id=parsed.feed_id,
    )


def normalize_guid(a: Article) -> Article:
    """Cap the identity's length: overlong guids are replaced by their hash."""
    if len(a.guid) <= MAX_GUID:
        return a
    return replace(
        a, guid="sha1:" + hashlib.sha1(a.guid.encode("utf-8", "surrogatepass")).hexdigest()
    )


def reissued_as(
    articles: Sequence[Article],
    existing: Mapping[str, str],
    links: Mapping[str, str],
    canonical: Mapping[str, str | None],
    home: str | None = None,
) -> dict[str, str]:
    """New guid → stored guid, for items that are a stored article of the same source
    under a new id: the same content hash, or the same canonical link.

    Some feeds mint a fresh guid on every fetch: each fetch stored the same five items
    again (170 rows after 8 minutes). A link is evidence only when it names one item of
    the document and one stored article, and is not the site's home page (feeds that
    link every item to the front page exist); a stored article still listed under its own
    guid, or already matched, is not taken twice. ``links``: stored canonical link → guid;
    ``canonical``: the items' canonical links by guid.
    """
    in_doc = {a.guid for a in articles}
    by_hash: dict[str, str] = {}
    for guid, digest in existing.items():
        by_hash.setdefault(digest, guid)
    link_of = {a.guid: canonical.get(a.guid) or a.url for a in articles}
    per_link = Counter(link_of.values())
    out: dict[str, str] = {}
    for a in articles:
        if a.guid in existing or a.guid in out:
            continue
        twin = by_hash.get(article_hash(a)) if by_hash else None  # none stored: no hash
        link = link_of[a.guid]
        if twin is None and link and link != home and per_link[link] == 1:
            twin = links.get(link)
        if twin is None or twin in in_doc or twin in out.values():
            continue
        out[a.guid] = twin
    return out


def decide_articles(
    existing: Mapping[str, str],
    tombstones: Set[str],
    parsed: ParsedFeed,
    *,
    snapshot: bool = False,
    links: Mapping[str, str] | None = None,
    canonical: Mapping[str, str | None] | None = None,
) -> ArticleChanges:
    """New and changed articles of one parse, against the stored ``guid → content hash``.

    ``snapshot`` sources (a folder of files) list everything they have, so stored articles
    missing from them were deleted; a feed only shows its latest entries, so for feeds an
    entry that is no longer listed is kept. Tombstoned guids never come back. With
    ``links`` (stored canonical link → guid), a feed item that is a stored article under a
    new guid updates that article instead of adding a copy (``reissued_as``).
    """
    new: list[Article] = []
    changed: list[Article] = []
    seen: set[str] = set()
    items = [normalize_guid(raw) for raw in parsed.articles]
    twins = (
        {} if snapshot or links is None
        else reissued_as(items, existing, links, canonical or {}, parsed.link)
    )
    for a in items:
        if a.guid in seen or a.guid in tombstones:
            continue  # the first copy of a guid within one document wins
        seen.add(a.guid)
        if a.guid in twins:
            a = replace(a, guid=twins[a.guid])
            seen.add(a.guid)
        old = existing.get(a.guid)
        if old is None:
            new.append(a)
        elif old != article_hash(a):
            changed.append(a)
    removed = tuple(sorted(g for g in existing if g not in seen)) if snapshot else ()
    return ArticleChanges(
        new=tuple(new), changed=tuple(changed), removed=removed, reissued=len(twins)
    )
