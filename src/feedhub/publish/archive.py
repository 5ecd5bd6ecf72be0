"""RFC 5005 archived feeds: which entries go in the subscription document and which in
monthly archive documents, plus the links between them. Pure planning; rendering is atom.py.

Policy for the month that straddles the subscription window (the month of the oldest entry
still in the subscription document): it stays UNPUBLISHED until all its entries have left the
window. RFC 5005 §4 says the entries of an archive document SHOULD NOT change, and readers may
cache archives forever, so an archive is written only when complete ("closed") and never
again. The cost: entries of the straddling month that already left the window are, for a
while, in neither document (``ArchivePlan.pending``); a subscriber who polls saw them in the
subscription document anyway, and they reappear in the archive once the month closes.

A closed archive's ``next-archive`` is fixed when it closes: it names the straddling month's
future archive URL (the next month that has entries), which is published the moment that
month closes. So a closed archive's bytes never need to change — the writer still refuses to
overwrite one (``write_atomic(..., replace=False)``) because the entries' related lists keep
evolving and a re-render would otherwise differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from feedhub.publish.atom import DEFAULT_MAX_RELATED, render_topic_feed, sort_newest_first
from feedhub.publish.text import EPOCH, utc
from feedhub.publish.views import ArchiveLinks, EntryView, SiteInfo, TopicInfo


@dataclass(frozen=True, slots=True)
class FeedDocument:
    """One document to publish: path relative to the output root, entries, RFC 5005 links."""

    path: str
    entries: tuple[EntryView, ...]
    links: ArchiveLinks
    closed: bool  # True for archives: write once, never overwrite


@dataclass(frozen=True, slots=True)
class ArchivePlan:
    """The subscription document, the closed monthly archives (oldest first), and the entries
    of the still-open straddling month that are in neither (see the module docstring)."""

    subscription: FeedDocument
    archives: tuple[FeedDocument, ...]
    pending: tuple[EntryView, ...]


def month_of(view: EntryView) -> str:
    """'YYYY-MM' of the entry's published date in UTC."""
    p = utc(view.article.published, "published")
    return f"{p.year:04d}-{p.month:02d}"


def archive_path(slug: str, month: str) -> str:
    return f"{slug}/{month}.atom"


def plan_archives(
    site: SiteInfo, slug: str, entries: Sequence[EntryView], entries_per_feed: int
) -> ArchivePlan:
    """Split ALL of a topic's entries into the subscription document (newest N) and the
    closed monthly archives, and link them: subscription → prev-archive → … ; each archive has
    current, prev-archive (unless oldest) and next-archive."""
    if entries_per_feed < 1:
        raise ValueError(f"entries_per_feed must be ≥ 1, got {entries_per_feed}")
    ordered = sort_newest_first(entries)
    window, older = ordered[:entries_per_feed], ordered[entries_per_feed:]
    current_url = f"{site.base_url}{slug}.atom"
    # Entries leave the window oldest first, so every month older than the window's oldest
    # month has left it entirely (closed); the window's oldest month is the straddling one.
    straddling = month_of(window[-1]) if window else None
    by_month: dict[str, list[EntryView]] = {}
    pending: list[EntryView] = []
    for view in older:
        month = month_of(view)
        if month == straddling:
            pending.append(view)
        else:
            by_month.setdefault(month, []).append(view)
    months = sorted(by_month)
    url = {m: site.base_url + archive_path(slug, m) for m in months}
    archives = []
    for i, month in enumerate(months):
        nxt = months[i + 1] if i + 1 < len(months) else straddling
        links = ArchiveLinks(
            prev_archive=url[months[i - 1]] if i > 0 else None,
            next_archive=site.base_url + archive_path(slug, nxt) if nxt else None,
            current=current_url,
            self_url=url[month],
        )
        archives.append(
            FeedDocument(archive_path(slug, month), tuple(by_month[month]), links, closed=True)
        )
    subscription = FeedDocument(
        f"{slug}.atom",
        tuple(window),
        ArchiveLinks(prev_archive=url[months[-1]] if months else None),
        closed=False,
    )
    return ArchivePlan(subscription, tuple(archives), tuple(pending))


def render_plan(
    site: SiteInfo,
    topic: TopicInfo,
    plan: ArchivePlan,
    *,
    max_related: int = DEFAULT_MAX_RELATED,
    empty_updated: datetime = EPOCH,
) -> list[tuple[FeedDocument, bytes]]:
    """Render every document of a plan, subscription first (write archives with replace=False)."""
    return [
        (
            doc,
            render_topic_feed(
                site,
                topic,
                doc.entries,
                archive=doc.links,
                max_related=max_related,
                empty_updated=empty_updated,
            ),
        )
        for doc in (plan.subscription, *plan.archives)
    ]
