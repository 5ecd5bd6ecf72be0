"""Runs sources through fetch → parse → decide → store. Wiring only: decisions live elsewhere.

Fetching is concurrent (aiohttp, capped globally and per host); parsing — the main CPU
cost, 56–197 ms per realistic feed — runs in a process pool so it uses every core and
never blocks the event loop; each source's changes are applied in one write transaction.

The pure per-article work of the later stages (canonical URL, dedupe features, topic
matching) runs beside the parse in the same worker (``prepare_job``): the write
transaction, which runs one source at a time, then does SQL only.

The parse, dedupe and related modules (feedparser, numpy, w3lib…) are imported by the
parse workers, forked only when some body needs parsing: a run where every source answers
304 never loads them (start-up is most of such a run).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from feedhub.config import Config, Source
from feedhub.fetch import HttpFetcher, read_file, read_folder
from feedhub.ingest.decide import (
    ArticleChanges,
    SourceUpdate,
    decide_articles,
    decide_fetch,
    normalize_guid,
    parse_failed,
    parsed_update,
    stored_at,
)
from feedhub.ingest.notes import note_quirks
from feedhub.ingest.pool import ParsePool, StageBroken, default_workers, ensure_parse_stage
from feedhub.ingest.worker import Prepared, PrepareSpec, prepare_job
from feedhub.model import (
    Article,
    FetchResult,
    FullText,
    ParsedFeed,
    ParseError,
    SourceInfo,
    SourceKind,
)
from feedhub.store import Store, first_line
from feedhub.store.advisory import INGEST_LOCK, xact_lock
from feedhub.store.articles import (
    Applied,
    apply_changes,
    existing_hashes,
    existing_links,
    ids_for_guids,
    tombstoned,
)
from feedhub.store.leases import hold_lease
from feedhub.store.pages import queue_pages
from feedhub.store.sources import apply_source_update, source_id, source_infos, sync_sources
from feedhub.store.topics import file_articles
from feedhub.wiring import fetch_settings, filing, refile_topics, related_settings, schedule_policy

if TYPE_CHECKING:
    from sqlalchemy import Connection

V = TypeVar("V")
log = logging.getLogger(__name__)

# Group commit (SQLite). A commit writes every page the transaction dirtied to the WAL: one
# source of 50 new articles dirtied ~230 16-KB pages, most of them in the random-key
# dedupe and URL indexes, so 200 such sources wrote ~740 MB and commits were a quarter of
# the write path (benchmarks/ingest.py). Sources whose results wait at the same moment
# now share one transaction, and the pages they share are written once. Each source is
# still all or nothing: a group that fails is written again one source at a time. A
# group is bounded so a publish waiting for the write lock is not kept out long.
# PostgreSQL keeps one transaction per source: its commit writes no pages, and a long
# transaction holding the ingest turn and source rows could deadlock with a concurrent
# `feedhub fetch` writing the same sources.
GROUP_MAX = 32
GROUP_SECONDS = 0.25

_Outcome = tuple[ArticleChanges, Applied, int]


@dataclass(frozen=True, slots=True)
class _Result:
    """One source's fetch (and parse) outcome, waiting for the store."""

    src: Source
    update: SourceUpdate
    parsed: ParsedFeed | None
    now: datetime
    prepared: Prepared | None


_Write = tuple["asyncio.Future[_Outcome]", _Result]


@dataclass(frozen=True, slots=True)
class SourceReport:
    """What happened to one source in one ingest run (for the CLI, logs and metrics)."""

    name: str
    outcome: str  # "updated", "unchanged", "not-modified", "error"
    status: int | None = None
    new: int = 0
    updated: int = 0
    removed: int = 0
    error: str | None = None
    duration: float = 0.0
    merged: int = 0  # copies merged into another source's story (dedupe)
    new_ids: tuple[int, ...] = ()
    changed_ids: tuple[int, ...] = ()


def utcnow() -> datetime:
    return datetime.now(UTC)


class Ingester:
    """One ingest run's machinery: the fetcher, the parse pool and the store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        pool: Executor | None = None,
        clock: Callable[[], datetime] = utcnow,
        lease_owner: str | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.pool = pool
        self.clock = clock
        # A service worker's id: each write checks and ends its lease (store/leases.py).
        self.lease_owner = lease_owner
        self.policy = schedule_policy(config)
        self.filing = filing(config)
        self._writes: deque[_Write] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._group_max = GROUP_MAX if store.dialect == "sqlite" else 1
        self.broken: StageBroken | None = None  # the parse stage did not load: see run()

    async def run(
        self,
        names: Sequence[str] | None = None,
        *,
        due_only: bool = False,
        on_done: Callable[[SourceReport], None] | None = None,
    ) -> list[SourceReport]:
        """Ingest the named (default: every enabled) sources once; never raises per source.

        Raises ``StageBroken`` once, instead of one error per source, when the parse workers
        cannot load the parse stage (a broken install): no source is stored as failed then.
        """
        now = self.clock()
        self.sync()
        with self.store.read() as conn:
            infos = source_infos(conn, names)
        infos = [i for i in infos if i.enabled or (names and i.name in names)]
        if due_only:
            infos = [i for i in infos if i.next_due is None or i.next_due <= now]
        by_name = {s.name: s for s in self.config.sources}
        todo = [(i, by_name[i.name]) for i in infos if i.name in by_name]
        if isinstance(self.pool, ParsePool) and any(i.state.body_hash is None for i, _ in todo):
            self.pool.start()  # a source never parsed will be: fork while no thread exists
        async with HttpFetcher(fetch_settings(self.config)) as fetcher:
            sem = asyncio.Semaphore(self.config.file.fetch.concurrency)

            async def one(info: SourceInfo, src: Source) -> SourceReport:
                report = await self.ingest_one(fetcher, info, src, sem)
                if on_done:
                    on_done(report)
                return report

            reports = list(await asyncio.gather(*(one(i, s) for i, s in todo)))
        if self.broken is not None:
            raise self.broken
        return reports

    def sync(self) -> None:
        """Make the store's sources follow the config, and re-file topics if rules changed.

        Once per run (or per config reload in the service): 1,000 sources are 1,000 UPDATEs.
        """
        with self.store.write() as conn:
            sync_sources(conn, self.config.sources, self.clock())
            refile_topics(conn, self.filing)

    async def ingest_one(
        self,
        fetcher: HttpFetcher,
        info: SourceInfo,
        src: Source,
        fetch_slots: asyncio.Semaphore | None = None,
    ) -> SourceReport:
        """One source through fetch → parse → store; errors end up in the report.

        ``fetch_slots`` bounds the network part only: a source waiting for its turn at
        the store must not keep another from being fetched on time (the soak benchmark
        saw every slot held by writes queued behind a long transaction, and no request
        went out for ten seconds).
        """
        started = time.perf_counter()
        if fetch_slots is None:
            result = await self._fetch(fetcher, info, src)
        else:
            async with fetch_slots:
                result = await self._fetch(fetcher, info, src)
        now = self.clock()
        salt = self.config.file.site.base_url if src.kind is SourceKind.FOLDER else ""
        decision = decide_fetch(
            info, result, now=now, interval=src.interval, policy=self.policy, salt=salt
        )
        parsed: ParsedFeed | None = None
        prepared: Prepared | None = None
        update = decision.update
        error = result.error
        if decision.parse:
            try:
                parsed, prepared = await self._parse(info, src, result, now)
                if parsed.dropped:
                    log.warning(
                        "%s: kept the newest %d of %d entries (fetch.max_entries)",
                        src.name, len(parsed.articles), len(parsed.articles) + parsed.dropped,
                    )
                update = parsed_update(
                    decision,
                    parsed,
                    source=info,
                    now=now,
                    interval=src.interval,
                    policy=self.policy,
                )
            except StageBroken as e:
                # Not the source's fault: store nothing, so it is fetched again as it was.
                self.broken = e
                return SourceReport(
                    name=src.name, outcome="error", status=result.status, error=str(e),
                    duration=time.perf_counter() - started,
                )
            except ParseError as e:
                # Most reasons already say "not a feed: …" (or "not a JSON Feed: …").
                error = str(e) if str(e).startswith("not a ") else f"not a feed: {e}"
                update = parse_failed(
                    info, decision, error, now=now, interval=src.interval, policy=self.policy
                )
            except Exception as e:  # a parser bug must not take the other sources down
                error = f"parser failure: {type(e).__name__}: {e}"
                update = parse_failed(
                    info, decision, error, now=now, interval=src.interval, policy=self.policy
                )
        try:
            changes, applied, merged = await self._store(
                _Result(src, update, parsed, now, prepared)
            )
        except SQLAlchemyError as e:
            # The source's writes rolled back: nothing of it is half-written, and the next
            # sweep retries it (its next-due time was not moved).
            error = f"store error: {first_line(e)}"
            changes, applied, merged = ArticleChanges(), Applied(), 0
        note_quirks(src.name, parsed, changes)
        outcome = (
            "error"
            if error
            else "not-modified"
            if result.not_modified
            else "updated"
            if changes
            else "unchanged"
        )
        return SourceReport(
            name=src.name,
            outcome=outcome,
            status=result.status,
            new=len(changes.new),
            updated=len(changes.changed),
            removed=len(changes.removed),
            error=error,
            duration=time.perf_counter() - started,
            merged=merged,
            new_ids=applied.new_ids,
            changed_ids=applied.changed_ids,
        )

    async def _fetch(self, fetcher: HttpFetcher, info: SourceInfo, src: Source) -> FetchResult:
        if src.kind is SourceKind.HTTP:
            return await fetcher.fetch(info.moved_to or src.url, info.state)
        path = Path(src.url)
        if src.kind is SourceKind.FOLDER:
            return await asyncio.to_thread(read_folder, path, src.url)
        return await asyncio.to_thread(read_file, path, src.url)

    async def _parse(
        self, info: SourceInfo, src: Source, result: FetchResult, now: datetime
    ) -> tuple[ParsedFeed, Prepared]:
        spec = PrepareSpec(
            rules=self.filing.rules,
            forced=self.filing.forced.get(src.name, ()),
            dedupe=self.config.file.dedupe.enabled,
            known=self._known(info),
        )
        args = (
            src.kind.value, result, self.config.file.site.base_url, src.name, now, spec,
            self.config.file.fetch.max_entries,
        )
        if self.pool is None:
            ensure_parse_stage()  # a broken install is StageBroken here too
            return prepare_job(*args)
        if isinstance(self.pool, ParsePool):
            return await self.pool.run(prepare_job, *args)
        return await asyncio.get_running_loop().run_in_executor(self.pool, prepare_job, *args)

    def _known(self, info: SourceInfo) -> dict[str, str] | None:
        """The source's stored ``guid → content hash``, so the worker skips unchanged
        articles (a hint only: the write transaction decides on fresh values)."""
        if not info.article_count:
            return {}
        try:
            with self.store.read() as conn:
                sid = source_id(conn, info.name)
                return existing_hashes(conn, sid) if sid is not None else {}
        except SQLAlchemyError:
            return None  # prepare everything; the write transaction reports the store error

    async def _store(self, result: _Result) -> _Outcome:
        """Apply one source's outcome; returns once it is committed (see GROUP_MAX)."""
        fut: asyncio.Future[_Outcome] = asyncio.get_running_loop().create_future()
        self._writes.append((fut, result))
        if self._writer is None or self._writer.done():
            # A task of its own, not the caller's: a cancelled caller must not strand the
            # results of the others in its group.
            self._writer = asyncio.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        """Write queued results, one group per transaction, until none is left."""
        while self._writes:
            for fut, outcome in await asyncio.to_thread(self._write_group):
                if fut.done():  # its caller was cancelled meanwhile
                    continue
                if isinstance(outcome, BaseException):
                    fut.set_exception(outcome)
                else:
                    fut.set_result(outcome)

    def _next_write(self) -> _Write | None:
        while self._writes:
            item = self._writes.popleft()
            if not item[0].cancelled():  # a cancelled caller's result is not written
                return item
        return None

    def _write_group(self) -> list[tuple[asyncio.Future[_Outcome], _Outcome | BaseException]]:
        """Queued results in one transaction (runs in a thread).

        No savepoint per source: SQLite copies every page a savepoint first changes, which
        cost more than the commits saved (+4 ms per source). A group that fails is rolled
        back whole and its sources are written again one transaction each, so only the
        source at fault carries the error (store errors are rare).
        """
        first = self._next_write()
        if first is None:
            return []
        group: list[_Write] = [first]
        done: list[_Outcome] = []
        deadline = time.monotonic() + GROUP_SECONDS
        try:
            with self.store.write() as conn:
                while True:
                    done.append(self._apply(conn, group[-1][1]))
                    if len(group) >= self._group_max or time.monotonic() > deadline:
                        break
                    item = self._next_write()
                    if item is None:
                        break
                    group.append(item)
        except Exception as e:
            if len(group) == 1:
                return [(first[0], e)]
            return [(fut, self._write_alone(result)) for fut, result in group]
        return [(fut, outcome) for (fut, _), outcome in zip(group, done, strict=True)]

    def _write_alone(self, result: _Result) -> _Outcome | BaseException:
        """One source in a transaction of its own: its outcome, or what made it fail."""
        try:
            with self.store.write() as conn:
                return self._apply(conn, result)
        except Exception as e:
            return e

    def _apply(self, conn: Connection, result: _Result) -> _Outcome:
        """One source's outcome in the caller's transaction: its state, its articles, their
        clusters and topics. Returns the changes, the touched row ids and the copies merged."""
        src, parsed, now, prepared = result.src, result.parsed, result.now, result.prepared
        changes = ArticleChanges()
        merged = 0
        if parsed is not None:
            # Article writes take turns (an advisory lock on PostgreSQL; SQLite has one
            # writer anyway): cross-source dedupe must see every article committed
            # before it, or two copies ingested at the same moment are never compared
            # (concurrent `fetch` processes stored 8,875 clusters where one stores
            # 8,858: benchmarks/scale.py). Writes that store no article (304, same
            # body: most of them) go on concurrently.
            xact_lock(conn, INGEST_LOCK)
        if self.lease_owner is not None:  # raises LeaseLost
            hold_lease(conn, src.name, self.lease_owner)
        apply_source_update(conn, src.name, stored_at(result.update, now, self.clock()))
        if parsed is None:
            return changes, Applied(), merged
        from feedhub.dedupe.cluster import dedupe_articles
        from feedhub.dedupe.cluster import remove_articles as dedupe_remove
        from feedhub.related import remove_articles as related_remove

        sid = source_id(conn, src.name)
        assert sid is not None
        pre = prepared or Prepared()
        existing = existing_hashes(conn, sid)
        snapshot = src.kind is SourceKind.FOLDER
        changes = decide_articles(
            existing,
            tombstoned(conn, sid),
            parsed,
            snapshot=snapshot,
            links=None if snapshot else _links_if_new(conn, sid, existing, parsed),
            canonical=pre.canonical,
        )
        if changes.removed:
            # The indexes must forget articles before their rows are deleted.
            gone = ids_for_guids(conn, sid, changes.removed)
            dedupe_remove(conn, gone)
            related_remove(conn, gone, related_settings(self.config))
        canonical = _with_canonical(changes, pre.canonical)
        applied = apply_changes(conn, sid, changes, now, canonical, pre.hashes)
        touched = applied.new_ids + applied.changed_ids
        by_id = list(zip(touched, (*changes.new, *changes.changed), strict=True))
        if self.config.file.dedupe.enabled:
            merged = dedupe_articles(
                conn,
                touched,
                window=self.config.file.dedupe.window,
                features=_by_id(by_id, pre.features),
            ).merges
        file_articles(
            conn, touched, self.filing.rules, self.filing.forced,
            topics=_by_id(by_id, pre.topics), new=set(applied.new_ids),
        )
        from feedhub.related.vectors import store_prepared

        store_prepared(conn, _by_id(by_id, pre.vectors))  # computed in the parse workers
        if src.full_text is not FullText.OFF:
            queue_pages(conn, _pages_to_fetch(sid, by_id, self.config.file.fetch.pages_per_source))
        return changes, applied, merged


def _links_if_new(
    conn: Connection, sid: int, existing: Mapping[str, str], parsed: ParsedFeed
) -> dict[str, str]:
    """The source's stored links (``existing_links``), read only when the parse holds a
    guid the store does not know: a reissued item is a new guid. A source with nothing
    stored has no links (its first fetch: one query saved)."""
    if not existing or all(normalize_guid(a).guid in existing for a in parsed.articles):
        return {}
    return existing_links(conn, sid)


def _with_canonical(
    changes: ArticleChanges, known: Mapping[str, str | None]
) -> Mapping[str, str | None]:
    """Canonical URLs (guid → URL) of every new and changed article: those computed beside
    the parse, the rest here."""
    missing = [a for a in (*changes.new, *changes.changed) if a.guid not in known]
    if not missing:
        return known
    from feedhub.dedupe.urls import article_canonical_url  # w3lib: only when needed

    return {**known, **{a.guid: article_canonical_url(a) for a in missing}}


def _pages_to_fetch(
    sid: int, by_id: Sequence[tuple[int, Article]], cap: int | None
) -> list[tuple[int, int, str]]:
    """(article id, source id, URL) of the new and changed articles whose page is wanted
    (full text), the first ``cap`` of them (``fetch.pages_per_source``; None: all)."""
    out = [
        (i, sid, a.url) for i, a in by_id if a.url and a.url.startswith(("http://", "https://"))
    ]
    return out if cap is None else out[:cap]


def _by_id(pairs: Sequence[tuple[int, Article]], by_guid: Mapping[str, V]) -> dict[int, V]:
    """Values computed per guid (before the rows had ids) → per article id."""
    return {i: by_guid[a.guid] for i, a in pairs if a.guid in by_guid}


async def ingest(
    config: Config,
    store: Store,
    names: Sequence[str] | None = None,
    *,
    workers: int | None = None,
    on_done: Callable[[SourceReport], None] | None = None,
    pool: ParsePool | None = None,
) -> list[SourceReport]:
    """Fetch and store every enabled (or every named) source once.

    ``pool``: parse workers forked already (``pool.prestart``); shut down at the end like
    the ones made here.
    """
    if pool is None and default_workers(workers) > 1:
        pool = ParsePool(workers)
    try:
        with batch_gc():
            reports = await Ingester(config, store, pool=pool).run(names, on_done=on_done)
            ingested = [r.name for r in reports if r.new_ids or r.changed_ids]
            await fetch_pages(config, store, pool, ingested)
            return reports
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


async def fetch_pages(
    config: Config, store: Store, pool: Executor | None, names: Sequence[str]
) -> None:
    """The article pages (full text) of the named sources, before a one-shot run ends
    (``feedhub fetch`` then ``publish`` publishes them); bounded by the page fetcher's
    timeouts and retries. A source without full text queued none."""
    wanted = {s.name for s in config.sources if s.full_text is not FullText.OFF}
    names = [n for n in names if n in wanted]
    if not names:
        return
    from feedhub.ingest.pages import PageRunner
    from feedhub.wiring import page_settings

    async with PageRunner(config, store, page_settings(config), pool=pool, clock=utcnow) as run:
        reports = await run.drain(names)
    if reports:
        ok = sum(1 for r in reports if r.error is None)
        log.info("full text: %d of %d article pages stored", ok, len(reports))


@contextmanager
def batch_gc(threshold: int = 20_000) -> Iterator[None]:
    """Fewer cyclic-GC passes during a one-off ingest (inherited by workers forked inside).

    An ingest allocates millions of short-lived containers and creates little cyclic
    garbage; with the default threshold (700) the collector ran ~600 times per 200 feeds
    and kept re-scanning every long-lived object: ~8 % of the CPU. ``gc.freeze()`` takes
    the start-up objects out of those scans.
    """
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold, old[0]), max(50, old[1]), max(1000, old[2]))
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()
