"""RFC 5005 archived feeds: which entries go in the subscription document and which in
monthly archive documents, plus the links between them. Pure planning; rendering is atom.py.

RFC 5005 §4: the subscription document and the archives together hold every entry, and
every archive link resolves. The month of the oldest entry still in the subscription
document (the "straddling" month) is therefore an archive too, holding that month's
entries that no longer fit in the subscription document (possibly none yet: an empty
archive still keeps the chain whole). It is the only OPEN archive: rewritten as entries
leave the window, and it has no ``next-archive`` link.

Every older month is complete ("closed"): RFC 5005 §4 says the entries of an archive
document SHOULD NOT change and readers may cache archives forever, so a closed archive is
written once and never again. Its ``next-archive`` always names the next month that has
an archive (at the latest the straddling one, which exists), fixed when it closes. A file
on disk without a ``next-archive`` link was written while its month was open: once the
month closes it is written one last time, complete (``archives_to_write``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

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
    """The subscription document, the monthly archives (oldest first; the newest is the
    open straddling month), and entries in neither (none since every month is archived;
    kept for callers)."""

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
    monthly archives, and link them: subscription → prev-archive → … ; each archive has
    current, prev-archive (unless oldest) and next-archive (unless the open one)."""
    if entries_per_feed < 1:
        raise ValueError(f"entries_per_feed must be ≥ 1, got {entries_per_feed}")
    ordered = sort_newest_first(entries)
    window, older = ordered[:entries_per_feed], ordered[entries_per_feed:]
    current_url = f"{site.base_url}{slug}.atom"
    # Entries leave the window oldest first, so every month older than the window's oldest
    # month has left it entirely (closed); the window's oldest month is the straddling one.
    straddling = month_of(window[-1]) if window else None
    by_month: dict[str, list[EntryView]] = {}
    for view in older:
        by_month.setdefault(month_of(view), []).append(view)
    if by_month and straddling is not None:
        by_month.setdefault(straddling, [])  # the open archive, even while still empty
    months = sorted(by_month)
    url = {m: site.base_url + archive_path(slug, m) for m in months}
    archives = []
    for i, month in enumerate(months):
        is_open = month == straddling
        links = ArchiveLinks(
            prev_archive=url[months[i - 1]] if i > 0 else None,
            next_archive=url[months[i + 1]] if i + 1 < len(months) else None,
            current=current_url,
            self_url=url[month],
        )
        archives.append(
            FeedDocument(
                archive_path(slug, month), tuple(by_month[month]), links, closed=not is_open
            )
        )
    subscription = FeedDocument(
        f"{slug}.atom",
        tuple(window),
        ArchiveLinks(prev_archive=url[months[-1]] if months else None),
        closed=False,
    )
    return ArchivePlan(subscription, tuple(archives), ())


def archives_to_write(out: Path, plan: ArchivePlan) -> list[FeedDocument]:
    """The archives of ``plan`` a publish to ``out`` must (re)write: the open one, closed
    ones that are missing, and closed ones last written while still open."""
    return [d for d in plan.archives if not d.closed or not _final_on_disk(out / d.path)]


FINAL_MARK = b'rel="next-archive"'
CHUNK = 4096
HEAD_MAX = 1 << 20  # feed-level links come before the first entry, far within this


def _final_on_disk(path: Path) -> bool:
    """Whether ``path`` holds a closed archive: it exists and links to a next archive.

    Reads only the feed's head (up to the first entry): every publish looks at every
    archive of every topic.
    """
    head = b""
    try:
        with open(path, "rb") as f:
            while len(head) < HEAD_MAX and (chunk := f.read(CHUNK)):
                head += chunk
                if b"<entry" in head:
                    break
    except OSError:
        return False
    return FINAL_MARK in head.split(b"<entry", 1)[0]


def render_plan(
    site: SiteInfo,
    topic: TopicInfo,
    plan: ArchivePlan,
    *,
    max_related: int = DEFAULT_MAX_RELATED,
    empty_updated: datetime = EPOCH,
) -> list[tuple[FeedDocument, bytes]]:
    """Render every document of a plan, subscription first."""
    docs = (plan.subscription, *plan.archives)
    return render_documents(
        site, topic, plan, docs, max_related=max_related, empty_updated=empty_updated
    )


def render_documents(
    site: SiteInfo,
    topic: TopicInfo,
    plan: ArchivePlan,
    docs: Sequence[FeedDocument],
    *,
    max_related: int = DEFAULT_MAX_RELATED,
    empty_updated: datetime = EPOCH,
) -> list[tuple[FeedDocument, bytes]]:
    """Render the given documents of ``plan`` (the publisher skips the unchanged ones).

    An empty (open) archive is dated at the subscription document's edge, the date of its
    oldest entry, rather than ``empty_updated``.
    """
    edge = subscription_edge(plan)

    def when_empty(doc: FeedDocument) -> datetime:
        is_open_archive = doc.path != plan.subscription.path and not doc.closed
        return edge if is_open_archive and edge is not None else empty_updated

    return [
        (
            doc,
            render_topic_feed(
                site,
                topic,
                doc.entries,
                archive=doc.links,
                max_related=max_related,
                empty_updated=when_empty(doc),
            ),
        )
        for doc in docs
    ]


def subscription_edge(plan: ArchivePlan) -> datetime | None:
    """The date of the subscription document's oldest entry (an empty open archive's date)."""
    return min((v.article.published for v in plan.subscription.entries), default=None)
