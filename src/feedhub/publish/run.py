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
from typing import TypeVar

from sqlalchemy import Connection

from feedhub import __version__
from feedhub.config import Config
from feedhub.model import SourceKind, StoredArticle, readable_name
from feedhub.publish.archive import (
    FeedDocument,
    archives_to_write,
    plan_archives,
    render_documents,
    subscription_edge,
)
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
from feedhub.publish.lock import LOCK_NAME, publish_lock
from feedhub.publish.page import ARTICLES_DIR, page_path, render_article_page
from feedhub.publish.stylesheet import render_stylesheet
from feedhub.publish.text import is_web_url
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
from feedhub.publish.write import DirSync, PublishError, remove_leftover_temps, tree_stamp
from feedhub.store import Store
from feedhub.store.articles import stored_articles
from feedhub.store.batch import chunks
from feedhub.store.copies import (
    copy_rows,
    folder_article_ids,
    source_rows,
    story_of,
)
from feedhub.store.docsigs import (
    LinkStamp,
    Stamp,
    article_stamps,
    doc_sigs,
    forget_docs,
    link_stamps,
    mark_docs,
    topic_stamps,
)
from feedhub.store.generation import generation as store_generation
from feedhub.store.generation import published_state, record_published_state
from feedhub.store.queue import queue_top
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
    # Topic documents (subscription feeds, archives, top stories) rendered this time: the
    # others were unchanged since written (their signature, issue 17) and were not rendered.
    rendered: tuple[str, ...] = ()


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


def last_publish(config: Config, store: Store, stages: str = "") -> tuple[int, int | None]:
    """The store's generation now, and, when a publish would change nothing, the count of
    documents the last publish left: None otherwise.

    Issue 17: a publish of an unchanged store did work that grew with the store. When the
    store's generation, the config and the output folder are as the last complete publish
    recorded them (`publish_state`), the stages before publishing have nothing to do and a
    full publish would write nothing: checked in a few rows and a walk of the folder.
    """
    with store.read() as conn:
        gen = store_generation(conn)
        last = (published_state(conn) or "").split(" ")
        same = len(last) == 2 and last[0] == publish_state(config, gen, doc_sigs(conn), stages)
        # Articles waiting for related are work for the stages whatever the generation
        # says (a writer that does not bump it: an older feedhub on the same store).
        same = same and queue_top(conn) == 0
    return gen, int(last[1]) if same else None


def unchanged_report(config: Config, documents: int, started: float) -> PublishReport:
    """The report of a publish skipped by `last_publish`: what a full one would say."""
    return PublishReport(topics=len(config.file.topics), written=0, unchanged=documents,
                         changed_paths=(), duration=time.perf_counter() - started)


def write_site(
    config: Config,
    store: Store,
    *,
    started: float | None = None,
    generation: tuple[int, int] | None = None,
    stages: str = "",
) -> PublishReport:
    """Render and write every topic's documents, the article pages and the indexes.

    Call it under ``publishing``; ``started`` (a ``time.perf_counter()``) is when the
    publish began, for the report's duration. ``generation``: the store's, read by the
    caller (`last_publish`) before the stages that ran ahead of this publish, and how many
    bumps those stages made (`Store.own_bumps`); this publish is then a full one. None:
    read here, and a publish that would change nothing stops at once.
    """
    started = time.perf_counter() if started is None else started
    if generation is None:
        gen, documents = last_publish(config, store, stages)
        if documents is not None:
            return unchanged_report(config, documents, started)
    else:
        # The generation after the stages is recorded only when they made every bump
        # since it was read: another writer's change may need them (a new article its
        # box), so then the one read before them is, and the next publish runs in full.
        with store.read() as conn:
            gen = store_generation(conn)
        if gen != generation[0] + generation[1]:
            gen = generation[0]
    topics = [TopicInfo(t.name, t.title, t.subtitle) for t in config.file.topics]
    out = config.output_dir
    related = config.file.related
    site = site_info(config)
    written: list[str] = []
    unchanged = 0
    closed = 0  # closed archives rendered: the next publish does not count them
    listings: list[TopicListing] = []
    pages: set[str] = set()
    story_sigs: dict[str, str] = {}
    doc_marks: dict[str, str] = {}  # topic documents written now → their signature
    rendered: list[str] = []
    files = DirSync()
    with store.read() as conn:
        refs = source_refs(conn, config)
        states = feed_states(conn)
        followable = {st.id for st in states}  # the stories with a feed
        last_sigs = doc_sigs(conn)
        for topic in topics:
            digest = topic_digest(config, topic)
            stamps = {s.id: s for s in topic_stamps(conn, topic.slug)}
            plan = plan_archives(
                site, topic.slug, [skeleton(s, refs) for s in stamps.values()],
                config.file.output.entries_per_feed,
            )
            # The subscription document and the open archive are signed: rendered only when
            # what they show changed, or their file is gone (issue 17). Closed archives are
            # written once; only the ones missing on disk are rendered.
            signed_docs = [plan.subscription, *(d for d in plan.archives if not d.closed)]
            details = detail_stamps(
                conn, [v.article for d in signed_docs for v in d.entries], refs,
                related.count, followable,
            )
            edge = subscription_edge(plan)
            todo: list[FeedDocument] = []
            for doc in signed_docs:
                sig = document_sig(digest, doc, stamps, details, edge)
                if unchanged_on_disk(last_sigs.get(doc.path), sig, out / doc.path):
                    unchanged += 1
                else:
                    todo.append(doc)
                    doc_marks[doc.path] = sig
                last_sigs.pop(doc.path, None)
            missing = [d for d in archives_to_write(out, plan) if d.closed]
            closed += len(missing)
            todo += missing
            # Boxes and copies are looked up only for the documents that get rendered.
            ids = [v.article.id for d in todo for v in d.entries]
            full = with_details(conn, loaded_views(conn, ids, refs), refs, related.count,
                                followable) if ids else {}
            docs = [replace(d, entries=tuple(full[v.article.id] for v in d.entries)) for d in todo]
            for doc, data in render_documents(site, topic, plan, docs, max_related=related.count):
                rendered.append(doc.path)
                if files.write(out / doc.path, data):
                    written.append(doc.path)
                else:
                    unchanged += 1
            heads = [v.article.id for v in plan.subscription.entries[:5]]
            listings.append(
                TopicListing(
                    topic,
                    tuple(
                        Headline(
                            v.article.title, v.article.url, v.article.published, v.source.title
                        )
                        for v in loaded_views(conn, heads, refs)
                    ),
                )
            )
            path = top_path(topic.slug)
            top = top_candidates(conn, config, topic.slug, refs, followable)
            sig = top_sig(conn, config, digest, top, refs)
            if unchanged_on_disk(last_sigs.pop(path, None), sig, out / path):
                unchanged += 1
                continue
            top = top_details(conn, config, top, refs)
            data = render_top_feed(site, topic, top, max_related=related.count)
            rendered.append(path)
            doc_marks[path] = sig
            if files.write(out / path, data):
                written.append(path)
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
    # The story feeds and topic documents are on disk for good before they are marked
    # written: a crash before the marks leaves them to be rendered again (issue 17).
    files.flush()
    if story_sigs or doc_marks or last_sigs:
        with store.write(bump=False) as conn:  # the publisher's own record (issue 17)
            mark_published(conn, story_sigs)
            mark_docs(conn, {p: on_disk(sig, out / p) for p, sig in doc_marks.items()})
            forget_docs(conn, last_sigs)  # documents no longer signed (a topic removed)
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
    # What this publish started from, for the next one to compare (issue 17): the
    # generation read before anything else (before the stages, when the pipeline runs
    # them), so a write made meanwhile, theirs too, means publishing again.
    with store.write(bump=False) as conn:
        state = publish_state(config, gen, doc_sigs(conn), stages)
        record_published_state(conn, f"{state} {len(written) + unchanged - closed}")
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
        rendered=tuple(rendered),
    )


def publish_state(config: Config, gen: int, sigs: dict[str, str], stages: str = "") -> str:
    """A digest of what a full publish's output depends on besides the store's rows (the
    store's generation ``gen``): the whole config, the output folder and every file in
    it, the feedhub version, the topic documents' stored signatures (``sigs``; a
    signature lost in a crash means publishing again), and what the stages before it
    depend on (``stages``: the text-vector model, whose change recomputes every box)."""
    out = config.output_dir
    key = repr((gen, stages, config.file.model_dump_json(), config.sources, str(out.resolve()),
                __version__, RENDER_VERSION, sorted(sigs.items()),
                tree_stamp(out, frozenset({LOCK_NAME}))))
    return hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()


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


def loaded_views(
    conn: Connection, ids: Sequence[int], refs: dict[str, SourceRef]
) -> list[EntryView]:
    """The views of the given articles, read whole (newest first); no box or copies yet."""
    return [EntryView(a, refs[a.source]) for a in stored_articles(conn, ids)]


# Topic documents (subscription feed, open archive, top stories): rendered only when what
# they show changed since they were written, as story feeds are (issue 17: a publish with
# nothing new rendered 20,000 entries of a 10k store, 11 of its 17 s).
RENDER_VERSION = 1  # raise when a topic document's bytes change for the same inputs


def topic_digest(config: Config, topic: TopicInfo) -> str:
    """What every document of a topic depends on besides its entries: the site's facts a
    feed shows (not its title: the indexes' only), the topic's own facts, the renderer's
    version. Sources and the Related News links shown are signed with their entries."""
    s = site_info(config)
    key = repr((s.base_url, s.author, s.websub_hub, topic, __version__, RENDER_VERSION))
    return hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()


def on_disk(sig: str, path: Path) -> str | None:
    """The mark stored for a written document: its signature and its file's size and
    mtime, so a file deleted, or edited or replaced by hand, is rendered again; None when
    the file is missing."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return f"{sig}:{st.st_size}:{st.st_mtime_ns}"


def unchanged_on_disk(last: str | None, sig: str, path: Path) -> bool:
    """Whether the document at ``path`` was written from ``sig`` and is still as written."""
    mark = on_disk(sig, path)
    return mark is not None and last == mark


def skeleton(stamp: Stamp, refs: dict[str, SourceRef]) -> EntryView:
    """A view holding only what planning reads (id, date, source): the text is read for
    the documents that get rendered only (`loaded_views`)."""
    a = StoredArticle(
        id=stamp.id, source=stamp.source, guid="", title="", url=None, canonical_url=None,
        summary="", content="", authors=(), categories=(), published=stamp.published,
        updated=stamp.published, first_seen=stamp.published, content_hash="",
        cluster_id=stamp.cluster_id,
    )
    return EntryView(a, refs[stamp.source])


def detail_stamps(
    conn: Connection,
    entries: Sequence[StoredArticle],
    refs: dict[str, SourceRef],
    count: int,
    followable: set[str] | frozenset[str] = frozenset(),
) -> dict[int, str]:
    """Article id → what `with_details` would add to it, as stamps: its copies (with their
    sources' titles), its stored box's links with their stories' representatives, its
    story when followable. Reads ids, urls and dates only, never an article's text
    (``entries`` may be `skeleton` ones)."""
    ids = [a.id for a in entries]
    copies: dict[int, list[tuple[str | None, str]]] = {}
    for chunk in chunks(ids):
        for cluster, url, name in copy_rows(conn, chunk):
            copies.setdefault(cluster, []).append((url, refs[name].title))
    boxes = link_stamps(conn, ids) if count else {}
    story = stories_of(conn, ids) if followable else {}
    out: dict[int, str] = {}
    for a in entries:
        i = a.id
        # The links shown (`chosen_related` keeps the web ones), each with its stamp.
        pairs = [(link.story, link) for link in boxes.get(i, ())]
        box = [(r.story, r.url, r.stamp) for r in box_reps(a.cluster_id or i, pairs, count)
               if is_web_url(r.url or "")]
        sid = story.get(i)
        out[i] = repr((copies.get(i, ()), box, sid if sid in followable else None))
    return out


def document_sig(
    digest: str,
    doc: FeedDocument,
    stamps: dict[int, Stamp],
    details: dict[int, str],
    edge: datetime | None,
) -> str:
    """The signature of one topic document: its path and RFC 5005 links, each entry's
    stamp, source and details, and (empty) the date it is given."""
    h = hashlib.sha1(repr((digest, doc.path, doc.links, None if doc.entries else edge))
                     .encode("utf-8", "surrogatepass"))
    for v in doc.entries:
        i = v.article.id
        h.update(f"\0{i}\0{stamps[i].stamp}\0{v.source!r}\0{details[i]}"
                 .encode("utf-8", "surrogatepass"))
    return h.hexdigest()


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


def top_candidates(
    conn: Connection,
    config: Config,
    topic: str,
    refs: dict[str, SourceRef],
    followable: set[str],
) -> list[TopStory]:
    """A topic's top stories: those with an article of the topic in the last
    ``stories.top_window`` up to the topic's newest article (not the clock: an unchanged
    store gives the same feed, and a quiet topic still shows its last busy day), most
    outlets first, then the most recent, then by id. Planned from stamps (no article's
    text: `top_details` reads the representatives'), no box or copies yet."""
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
    loaded = article_stamps(conn, _flat(members))
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
        out.append(TopStory(story, skeleton(rep, refs), tuple(outlets), story in followable))
    return out


def top_details(
    conn: Connection, config: Config, top: Sequence[TopStory], refs: dict[str, SourceRef]
) -> list[TopStory]:
    """The top stories with their representatives read whole, boxes and copies filled in."""
    views = loaded_views(conn, [t.view.article.id for t in top], refs)
    full = with_details(conn, views, refs, config.file.related.count)
    return [replace(t, view=full[t.view.article.id]) for t in top if t.view.article.id in full]


def top_sig(
    conn: Connection,
    config: Config,
    digest: str,
    top: Sequence[TopStory],
    refs: dict[str, SourceRef],
) -> str:
    """The signature of a topic's top stories feed: the stories in order, their outlets,
    their representatives' stamps and details."""
    ids = [t.view.article.id for t in top]
    stamps = article_stamps(conn, ids)
    details = detail_stamps(conn, [t.view.article for t in top], refs,
                            config.file.related.count)
    key = repr((
        digest, "top", config.file.stories,
        [(t.story_id, t.view.article.id, stamps[t.view.article.id].stamp, t.view.source,
          details[t.view.article.id], t.sources, t.followable) for t in top],
    ))
    return hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()


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

    def links(a: StoredArticle) -> list[tuple[int, StoredArticle | None]]:
        found = [(cluster_of.get(link.related_id), link) for link in boxes.get(a.id, ())]
        return [(story, reps.get(story)) for story, _ in found if story is not None]

    return {
        a.id: tuple(
            RelatedLink(rep.id, rep.title, rep.url or "", rep.published)
            for rep in box_reps(a.cluster_id or a.id, links(a), count)
        )
        for a in stories
    }


R = TypeVar("R", StoredArticle, LinkStamp)


def box_reps(own: int, links: Sequence[tuple[int, R | None]], count: int) -> list[R]:
    """The representatives a box links to, best first, from its links' (story,
    representative) pairs: one per story, never the entry's own story (``own``), only
    those with a URL; ``count`` at most. Shared by the rendering (`related_boxes`) and the
    signature (`detail_stamps`), so both see the same links."""
    seen = {own}
    out: list[R] = []
    for story, rep in links:
        if rep is None or story in seen or not rep.url:
            continue
        seen.add(story)
        out.append(rep)
    return out[:count]


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
