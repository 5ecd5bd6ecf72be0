"""Publishing: store → related → render → write, for every topic, plus index.opml/index.html.

Wiring only: the store queries, the related ranking and the renderers live elsewhere.
Every document is rendered from the store and written with ``write_atomic``, which leaves
files whose bytes did not change untouched — so unchanged topics are not rewritten.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import takewhile
from pathlib import Path

from sqlalchemy import Connection, delete, func, select

from feedhub.config import Config
from feedhub.config.env import has_secret
from feedhub.model import SourceKind, StoredArticle, readable_name
from feedhub.publish.archive import ArchivePlan, archives_to_write, plan_archives, render_plan
from feedhub.publish.atom import STYLESHEET, chosen_related
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
    TopicInfo,
    TopicListing,
)
from feedhub.publish.websub import announce
from feedhub.publish.write import PublishError, remove_leftover_temps, write_atomic
from feedhub.related.refreeze import mark, refreeze
from feedhub.related.update import REFREEZE_AT, Settings, index_until_refreeze, refreeze_ahead
from feedhub.store import Store
from feedhub.store.articles import stored_articles
from feedhub.store.batch import chunks
from feedhub.store.pace import Pacer
from feedhub.store.related import documents, indexed_ids, read_boxes
from feedhub.store.schema import article_topics, articles, pending_related, sources
from feedhub.store.topics import refile_if_rules_changed
from feedhub.wiring import filing

__all__ = ["PublishError", "PublishReport", "publish"]

RELATED_TXN_BUDGET = 0.2  # seconds one related-update transaction may hold the write lock
RELATED_MAX_BATCH = 500
BACKGROUND_PAUSE = 0.1  # `publish --background`: gap between write batches, seconds


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


def publish(
    config: Config,
    store: Store,
    *,
    pause: float = 0.0,
    on_wait: Callable[[], None] | None = None,
) -> PublishReport:
    """Publish under the output folder's lock (one publisher at a time, ``lock.py``).

    Temp files of a writer that was killed mid-write are removed first. ``on_wait`` is
    called if another publish holds the lock (this one then waits for it).
    """
    with publish_lock(config.output_dir, on_wait=on_wait):
        remove_leftover_temps(config.output_dir)
        return _publish(config, store, pause=pause)


def _publish(config: Config, store: Store, *, pause: float = 0.0) -> PublishReport:
    """Bring related lists up to date, then render and write every topic's documents.

    ``pause`` seconds between related-update transactions let other writers (a running
    service's fetches) take the store in between.
    """
    started = time.perf_counter()
    f = filing(config)
    related = config.file.related
    with store.write() as conn:
        refile_if_rules_changed(conn, f.digest, f.rules, f.forced)
    update_pending_related(store, count=related.count, window=related.window, pause=pause)
    site = site_info(config)
    out = config.output_dir
    written: list[str] = []
    unchanged = 0
    listings: list[TopicListing] = []
    pages: set[str] = set()
    topics = [TopicInfo(t.name, t.title, t.subtitle) for t in config.file.topics]
    with store.read() as conn:
        refs = source_refs(conn, config)
        for topic in topics:
            views = topic_stories(conn, topic.slug, refs)
            plan = plan_archives(site, topic.slug, views, config.file.output.entries_per_feed)
            # Closed archives are written once; skip rendering the ones already on disk.
            # Boxes and copies are looked up only for the documents that get rendered.
            docs = [plan.subscription, *archives_to_write(out, plan)]
            full = with_details(conn, [v for d in docs for v in d.entries], refs, related.count)
            docs = [replace(d, entries=tuple(full[v.article.id] for v in d.entries)) for d in docs]
            todo = ArchivePlan(docs[0], tuple(docs[1:]), plan.pending)
            for doc, data in render_plan(site, topic, todo, max_related=related.count):
                if write_atomic(out / doc.path, data):  # archives_to_write chose these
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
        for rel_path, data in article_pages(conn, site, refs, related.count).items():
            if write_atomic(out / rel_path, data):
                written.append(rel_path)
            else:
                unchanged += 1
            pages.add(rel_path)
    remove_stale_pages(out, pages)
    newest = max((h.published for li in listings for h in li.headlines), default=None)
    for name, data in (
        (
            "index.opml",
            render_opml(site, topics, created=newest or datetime(1970, 1, 1, tzinfo=UTC)),
        ),
        ("index.html", render_index_html(site, listings)),
        (STYLESHEET, render_stylesheet()),  # named by every feed: readable in a browser
    ):
        if write_atomic(out / name, data):
            written.append(name)
        else:
            unchanged += 1
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


def update_pending_related(
    store: Store,
    *,
    count: int,
    window: timedelta,
    budget: float = RELATED_TXN_BUDGET,
    pause: float = 0.0,
) -> int:
    """Bring related lists up to date for the articles ingest queued, in short transactions.

    The batch size adapts so one write transaction lasts about ``budget`` seconds: the
    service's fetches commit between batches. (A soak run with ~10k queued articles held
    the write lock for minutes in one transaction, then for ~6 s per 200-article batch,
    and every fetch waited behind it.)

    Only the articles queued when it starts are its share (ids up to the queue's highest):
    beside a busy service the queue never empties, and a publish that chased it never
    got to writing a single feed. Later ones wait for the next publish.
    """
    s = Settings(count=count, window=window)
    pacer = Pacer(budget, pause, max_batch=RELATED_MAX_BATCH)
    with store.read() as conn:
        upto = conn.execute(select(func.max(pending_related.c.article_id))).scalar() or 0
    refreeze(store.read, store.write, s, budget, pause)  # one a dead publish left marked
    with store.write() as conn:
        done = _skip_to_refreeze(conn, upto)
    if done:
        refreeze(store.read, store.write, s, budget, pause)
    while True:
        started = time.perf_counter()
        with store.write() as conn:
            ids = list(
                conn.execute(
                    select(pending_related.c.article_id)
                    .where(pending_related.c.article_id <= upto)
                    .order_by(pending_related.c.article_id)
                    .limit(pacer.batch)
                ).scalars()
            )
            if not ids:
                return done
            step = index_until_refreeze(conn, ids, s)
            if step.refreeze:
                mark(conn)  # committed with the articles that reached the size
            conn.execute(
                delete(pending_related).where(pending_related.c.article_id.in_(step.done))
            )
            done += len(step.done)
        pacer.record(time.perf_counter() - started)
        if step.refreeze:  # before any further article is indexed, in its own transactions
            refreeze(store.read, store.write, s, budget, pause)


def _skip_to_refreeze(conn: Connection, upto: int) -> int:
    """Queue the new articles that a coming re-freeze re-weights anyway straight into it
    (`refreeze_ahead`): marks the re-freeze, takes them off the queue, returns how many.

    Only a run of new, existing articles at the head of the queue qualifies: a changed or
    deleted one is indexed in order by the loop, as before.
    """
    indexed = documents(conn)
    room = max(REFREEZE_AT) - indexed
    if room <= 0:
        return 0
    queued = list(
        conn.execute(
            select(pending_related.c.article_id)
            .where(pending_related.c.article_id <= upto)
            .order_by(pending_related.c.article_id)
            .limit(room)
        ).scalars()
    )
    known = set(indexed_ids(conn))
    existing = set(conn.scalars(select(articles.c.id).where(articles.c.id.in_(queued))))
    run = list(takewhile(lambda i: i in existing and i not in known, queued))
    joining = run[: refreeze_ahead(indexed, len(run))]
    if joining:
        mark(conn, joining)
        for chunk in chunks(joining, 500):
            conn.execute(delete(pending_related).where(pending_related.c.article_id.in_(chunk)))
    return len(joining)


def source_refs(conn: Connection, config: Config) -> dict[str, SourceRef]:
    """Source name → the atom:source facts of its feed."""
    refs = {}
    for r in conn.execute(select(sources)):
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
    member_ids = select(article_topics.c.article_id).where(article_topics.c.topic == topic)
    rep_ids = set(
        conn.execute(
            select(articles.c.cluster_id, articles.c.id).where(articles.c.id.in_(member_ids))
        ).all()
    )
    reps = {cluster or aid for cluster, aid in rep_ids}
    return [EntryView(a, refs[a.source]) for a in stored_articles(conn, reps)]


def with_details(
    conn: Connection, views: Sequence[EntryView], refs: dict[str, SourceRef], count: int
) -> dict[int, EntryView]:
    """Article id → its view with the Related News box and the other copies filled in."""
    stories = [v.article for v in views]
    copies = cluster_copies(conn, [a.id for a in stories], refs)
    boxes = related_boxes(conn, stories, count)
    return {
        v.article.id: replace(v, related=boxes[v.article.id], copies=copies.get(v.article.id, ()))
        for v in views
    }


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
    cluster_of: dict[int, int] = {}
    for chunk in chunks(sorted(linked)):
        cluster_of.update(
            (i, c or i)
            for i, c in conn.execute(
                select(articles.c.id, articles.c.cluster_id).where(articles.c.id.in_(chunk))
            )
        )
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
    q = (
        select(articles.c.cluster_id, articles.c.url, sources.c.name)
        .join(sources, sources.c.id == articles.c.source_id)
        .where(articles.c.cluster_id.in_(list(rep_ids)), articles.c.id != articles.c.cluster_id)
        .order_by(articles.c.cluster_id, sources.c.position, articles.c.id)
    )
    out: dict[int, list[CopyRef]] = {}
    for cluster, url, name in conn.execute(q):
        if url:
            out.setdefault(cluster, []).append(CopyRef(refs[name].title, url))
    return {k: tuple(v) for k, v in out.items()}


def article_pages(
    conn: Connection, site: SiteInfo, refs: dict[str, SourceRef], count: int
) -> dict[str, bytes]:
    """Output path → page, for every article of a folder source (the publisher side)."""
    ids = (
        select(articles.c.id)
        .join(sources, sources.c.id == articles.c.source_id)
        .where(sources.c.kind == SourceKind.FOLDER.value)
    )
    local = stored_articles(conn, conn.execute(ids).scalars().all())
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
