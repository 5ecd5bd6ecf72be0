"""Publishing: store → plan → render → write, for every topic, plus index.opml/index.html.

Plans, renders and writes only: the topics and related stages have run before
(``feedhub.pipeline.publish``), and what is rendered is read through store functions.
Every document is written with ``write_atomic``, which leaves files whose bytes did not
change untouched — so unchanged topics are not rewritten.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection

from feedhub import __version__
from feedhub.config import Config
from feedhub.model import SourceKind, StoredArticle, readable_name
from feedhub.publish.archive import ArchivePlan, archives_to_write, plan_archives, render_plan
from feedhub.publish.atom import (
    STORIES_DIR,
    STYLESHEET,
    chosen_related,
    render_story_feed,
    render_top_feed,
    story_path,
    top_path,
)
from feedhub.publish.index import render_index_html, render_opml
from feedhub.publish.lock import publish_lock
from feedhub.publish.page import ARTICLES_DIR, page_path, render_article_page
from feedhub.publish.stylesheet import render_stylesheet
from feedhub.publish.views import (
    CopyRef,
    EntryView,
    Headline,
    RelatedLink,
    SiteInfo,
    SourceRef,
    StoryInfo,
    TopicInfo,
    TopicListing,
    TopStory,
)
from feedhub.publish.websub import announce
from feedhub.publish.write import DirSync, PublishError, remove_leftover_temps
from feedhub.store import Store
from feedhub.store.articles import stored_articles
from feedhub.store.copies import (
    copy_rows,
    folder_article_ids,
    source_rows,
    story_of,
    topic_story_ids,
)
from feedhub.store.related import read_boxes
from feedhub.store.stories import (
    FeedState,
    feed_states,
    mark_published,
    members_of,
    newest_published,
    stories_of,
    top_in_window,
    topic_members,
)
from feedhub.util.urls import has_secret

__all__ = ["PublishError", "PublishReport", "publishing", "write_site"]


@dataclass(frozen=True, slots=True)
class PublishReport:
    topics: int
    written: int
    unchanged: int
    changed_paths: tuple[str, ...]
    duration: float
    warnings: tuple[str, ...] = ()  # e.g. a WebSub hub that could not be reached


def site_info(config: Config) -> SiteInfo:
    s = config.file.site
    return SiteInfo(title=s.title, base_url=s.base_url, author=s.author, websub_hub=s.websub_hub)


@contextmanager
def publishing(out: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the output folder's lock (one publisher at a time, ``lock.py``) and remove the
    temp files of a writer that was killed mid-write first.

    ``on_wait`` is called if another publish holds the lock (this one then waits for it).
    """
    with publish_lock(out, on_wait=on_wait):
        remove_leftover_temps(out)
        yield


def write_site(config: Config, store: Store, *, started: float | None = None) -> PublishReport:
    """Render and write every topic's documents, the article pages and the indexes.

    Call it under ``publishing``; ``started`` (a ``time.perf_counter()``) is when the
    publish began, for the report's duration.
    """
    started = time.perf_counter() if started is None else started
    related = config.file.related
    site = site_info(config)
    out = config.output_dir
    written: list[str] = []
    unchanged = 0
    listings: list[TopicListing] = []
    pages: set[str] = set()
    topics = [TopicInfo(t.name, t.title, t.subtitle) for t in config.file.topics]
    story_sigs: dict[str, str] = {}
    files = DirSync()
    with store.read() as conn:
        refs = source_refs(conn, config)
        states = feed_states(conn)
        followable = {st.id for st in states}  # the stories with a feed
        for topic in topics:
            views = topic_stories(conn, topic.slug, refs)
            plan = plan_archives(site, topic.slug, views, config.file.output.entries_per_feed)
            # Closed archives are written once; skip rendering the ones already on disk.
            # Boxes and copies are looked up only for the documents that get rendered.
            docs = [plan.subscription, *archives_to_write(out, plan)]
            full = with_details(
                conn, [v for d in docs for v in d.entries], refs, related.count, followable
            )
            docs = [replace(d, entries=tuple(full[v.article.id] for v in d.entries)) for d in docs]
            todo = ArchivePlan(docs[0], tuple(docs[1:]), plan.pending)
            for doc, data in render_plan(site, topic, todo, max_related=related.count):
                if files.write(out / doc.path, data):  # archives_to_write chose these
                    written.append(doc.path)
                else:
                    unchanged += 1
            listings.append(
                TopicListing(
                    topic,
                    tuple(
                        Headline(
                            v.article.title, v.article.url, v.article.published, v.source.title
                        )
                        for v in plan.subscription.entries[:5]
                    ),
                )
            )
            top = top_stories(conn, config, topic.slug, refs, followable)
            data = render_top_feed(site, topic, top, max_related=related.count)
            if files.write(out / top_path(topic.slug), data):
                written.append(top_path(topic.slug))
            else:
                unchanged += 1
        for rel_path, data in article_pages(conn, site, refs, related.count).items():
            if files.write(out / rel_path, data):
                written.append(rel_path)
            else:
                unchanged += 1
            pages.add(rel_path)
        digest = story_digest(config, refs)
        todo = stories_to_write(out, states, digest)
        unchanged += len(followable) - len(todo)
        for story, data in story_feeds(conn, config, [st.id for st in todo], refs):
            if files.write(out / story_path(story), data):
                written.append(story_path(story))
            else:
                unchanged += 1
        story_sigs = {st.id: signed(digest, st) for st in todo}
    remove_stale_pages(out, pages)
    remove_stale_stories(out, followable)
    files.flush()  # the story feeds are on disk for good before they are marked written
    if story_sigs:
        with store.write() as conn:
            mark_published(conn, story_sigs)
    newest = max((h.published for li in listings for h in li.headlines), default=None)
    for name, data in (
        (
            "index.opml",
            render_opml(site, topics, created=newest or datetime(1970, 1, 1, tzinfo=UTC)),
        ),
        ("index.html", render_index_html(site, listings)),
        (STYLESHEET, render_stylesheet()),  # named by every feed: readable in a browser
    ):
        if files.write(out / name, data):
            written.append(name)
        else:
            unchanged += 1
    files.flush()
    hub_errors: list[str] = []
    if site.websub_hub:
        changed_feeds = [site.base_url + p for p in written if p.endswith(".atom") and "/" not in p]
        hub_errors = announce(site.websub_hub, changed_feeds)
    return PublishReport(
        topics=len(topics),
        written=len(written),
        unchanged=unchanged,
        changed_paths=tuple(written),
        duration=time.perf_counter() - started,
        warnings=tuple(hub_errors),
    )


def source_refs(conn: Connection, config: Config) -> dict[str, SourceRef]:
    """Source name → the atom:source facts of its feed."""
    refs = {}
    for r in source_rows(conn):
        # Only a public web URL is published: a private feed's URL carries its password or
        # token, and a file or folder source's path is this machine's business.
        url: str | None = r.moved_to or r.url
        if r.kind != SourceKind.HTTP.value or has_secret(url or ""):
            url = None
        cfg = config.source(r.name)
        # A folder has no feed title: its stored one may be the slug an older version kept.
        fetched = readable_name(r.name) if r.kind == SourceKind.FOLDER.value else r.title
        title = (cfg.title if cfg and cfg.title else None) or fetched or r.name
        refs[r.name] = SourceRef(r.name, title, r.link, url, r.feed_id)
    return refs


def topic_stories(conn: Connection, topic: str, refs: dict[str, SourceRef]) -> list[EntryView]:
    """A topic's entries, one per story (the cluster's representative); no box or copies yet."""
    reps = topic_story_ids(conn, topic)
    return [EntryView(a, refs[a.source]) for a in stored_articles(conn, reps)]


def with_details(
    conn: Connection,
    views: Sequence[EntryView],
    refs: dict[str, SourceRef],
    count: int,
    followable: set[str] | frozenset[str] = frozenset(),
) -> dict[int, EntryView]:
    """Article id → its view with the Related News box (``count`` 0: none), the other
    copies and its story (when that one has a feed: in ``followable``) filled in."""
    stories = [v.article for v in views]
    copies = cluster_copies(conn, [a.id for a in stories], refs)
    boxes = related_boxes(conn, stories, count) if count else {}
    story = stories_of(conn, [a.id for a in stories]) if followable else {}
    return {
        v.article.id: replace(
            v,
            related=boxes.get(v.article.id, ()),
            copies=copies.get(v.article.id, ()),
            story_id=story.get(v.article.id) if story.get(v.article.id) in followable else None,
        )
        for v in views
    }


# Story feeds: written again only when what they show changed (a publish over 100k stored
# articles renders the few stories that moved, not every one).
def story_digest(config: Config, refs: dict[str, SourceRef]) -> str:
    """What every story feed depends on besides its articles: the site, the feed size,
    the sources' published facts and the renderer's version."""
    key = repr((site_info(config), config.file.output.entries_per_feed, sorted(refs.items()),
                __version__))
    return hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()


def signed(digest: str, state: FeedState) -> str:
    """The mark stored with a story once its feed is written (`mark_published`)."""
    return hashlib.sha1(f"{digest}\0{state.sig}".encode()).hexdigest()


def stories_to_write(out: Path, states: Sequence[FeedState], digest: str) -> list[FeedState]:
    """The stories (each has a feed) whose feed changed since it was last written, or is
    missing."""
    return [
        st
        for st in states
        if st.published_sig != signed(digest, st) or not (out / story_path(st.id)).is_file()
    ]


def story_feeds(
    conn: Connection, config: Config, story_ids: Sequence[str], refs: dict[str, SourceRef]
) -> Iterator[tuple[str, bytes]]:
    """(story id, feed) for the given stories: one entry per dedupe cluster, newest first,
    with "Also reported by"; no Related News box (the feed is the story's own list)."""
    site = site_info(config)
    limit = config.file.output.entries_per_feed
    for i in range(0, len(story_ids), 200):
        chunk = story_ids[i : i + 200]
        members = members_of(conn, chunk)
        loaded = {a.id: a for a in stored_articles(conn, _flat(members))}
        for story in chunk:
            own = [loaded[m] for m in members.get(story, []) if m in loaded]
            if not own:
                continue
            earliest = min(own, key=lambda a: (a.published, a.id))
            reps = [a for a in own if (a.cluster_id or a.id) == a.id]
            reps.sort(key=lambda a: (a.published, a.id), reverse=True)
            views = [EntryView(a, refs[a.source]) for a in reps[:limit]]
            full = with_details(conn, views, refs, 0, {story})
            yield story, render_story_feed(
                site, StoryInfo(story, earliest.title), [full[v.article.id] for v in views]
            )


def _flat(members: dict[str, list[int]]) -> list[int]:
    return [m for ms in members.values() for m in ms]


def remove_stale_stories(out: Path, keep: set[str]) -> None:
    """Delete the feeds of stories that are gone or no longer have two articles."""
    root = out / STORIES_DIR
    if not root.is_dir():
        return
    for feed in root.glob("*.atom"):
        if feed.stem not in keep:
            feed.unlink(missing_ok=True)


def top_stories(
    conn: Connection,
    config: Config,
    topic: str,
    refs: dict[str, SourceRef],
    followable: set[str],
) -> list[TopStory]:
    """A topic's top stories: those with an article of the topic in the last
    ``stories.top_window`` up to the topic's newest article (not the clock: an unchanged
    store gives the same feed, and a quiet topic still shows its last busy day), most
    outlets first, then the most recent, then by id."""
    st = config.file.stories
    end = newest_published(conn, topic)
    if end is None:
        return []
    start = end - st.top_window
    found = top_in_window(conn, topic, start, end)
    ranked = sorted(found, key=lambda r: (-r[1], -r[2].timestamp(), r[0]))[: st.top_count]
    ids = [r[0] for r in ranked]
    members = members_of(conn, ids)
    filed = topic_members(conn, ids, topic)
    loaded = {a.id: a for a in stored_articles(conn, _flat(members))}
    out: list[TopStory] = []
    for story, _, _ in ranked:
        own = [loaded[m] for m in members.get(story, []) if m in loaded]
        size: dict[int, int] = {}
        for a in own:
            size[a.cluster_id or a.id] = size.get(a.cluster_id or a.id, 0) + 1
        mine = {loaded[m].cluster_id or m for m in filed.get(story, []) if m in loaded}
        # The most copied of its clusters filed under the topic; then the earliest.
        reps = [loaded[k] for k in mine if k in loaded]
        if not reps:
            continue
        rep = min(reps, key=lambda a: (-size.get(a.id, 0), a.published, a.id))
        outlets = sorted({refs[a.source].title for a in own if start <= a.published <= end})
        out.append(TopStory(story, EntryView(rep, refs[rep.source]), tuple(outlets),
                            story in followable))
    full = with_details(conn, [t.view for t in out], refs, config.file.related.count)
    return [replace(t, view=full[t.view.article.id]) for t in out]


def related_boxes(
    conn: Connection, stories: Sequence[StoredArticle], count: int
) -> dict[int, tuple[RelatedLink, ...]]:
    """Each article's related list as stories, in three queries for the whole set.

    Every link goes to its story's representative, never to the article's own story, and
    one story appears once. Clusters can change after a box was computed (a copy arrives
    later), so this is checked again here, at render time.
    """
    boxes = read_boxes(conn, [a.id for a in stories])
    linked = {link.related_id for box in boxes.values() for link in box}
    cluster_of = story_of(conn, linked)
    reps = {a.id: a for a in stored_articles(conn, set(cluster_of.values()))}
    out: dict[int, tuple[RelatedLink, ...]] = {}
    for a in stories:
        seen = {a.cluster_id or a.id}
        box: list[RelatedLink] = []
        for link in boxes.get(a.id, ()):
            story = cluster_of.get(link.related_id)
            rep = reps.get(story) if story is not None else None
            if rep is None or story in seen or not rep.url:
                continue
            seen.add(story)
            box.append(RelatedLink(rep.id, rep.title, rep.url, rep.published))
        out[a.id] = tuple(box[:count])
    return out


def cluster_copies(
    conn: Connection, rep_ids: Sequence[int], refs: dict[str, SourceRef]
) -> dict[int, tuple[CopyRef, ...]]:
    """Representative id → the other copies of its story ("Also reported by …")."""
    if not rep_ids:
        return {}
    out: dict[int, list[CopyRef]] = {}
    for cluster, url, name in copy_rows(conn, rep_ids):
        if url:
            out.setdefault(cluster, []).append(CopyRef(refs[name].title, url))
    return {k: tuple(v) for k, v in out.items()}


def article_pages(
    conn: Connection, site: SiteInfo, refs: dict[str, SourceRef], count: int
) -> dict[str, bytes]:
    """Output path → page, for every article of a folder source (the publisher side)."""
    local = stored_articles(conn, folder_article_ids(conn))
    boxes = related_boxes(conn, local, count)
    pages = {}
    for a in local:
        path = page_path(site, a.url)
        if path is not None:
            view = EntryView(a, refs[a.source], boxes[a.id])
            pages[path] = render_article_page(
                site, EntryView(a, view.source, chosen_related(view, count))
            )
    return pages


def remove_stale_pages(out: Path, keep: set[str]) -> None:
    """Delete pages of local articles that no longer exist (a deleted file stays deleted)."""
    root = out / ARTICLES_DIR
    if not root.is_dir():
        return
    for page in root.rglob("*.html"):
        if str(page.relative_to(out)) not in keep:
            page.unlink(missing_ok=True)
