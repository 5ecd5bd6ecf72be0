"""Runs sources through fetch → parse → decide → store. Wiring only: decisions live elsewhere.

Fetching is concurrent (aiohttp, capped globally and per host); parsing — the main CPU
cost, 56–197 ms per realistic feed — runs in a process pool so it uses every core and
never blocks the event loop; each source's changes are applied in one write transaction.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from feedhub.config import Config, Source
from feedhub.fetch import HttpFetcher, read_file, read_folder
from feedhub.ingest.decide import (
    ArticleChanges,
    decide_articles,
    decide_fetch,
    parse_failed,
    parsed_update,
)
from feedhub.model import FetchResult, ParsedFeed, ParseError, SourceInfo, SourceKind
from feedhub.parse import parse_feed, parse_folder
from feedhub.related import remove_articles as related_remove
from feedhub.store import Store, first_line
from feedhub.store.articles import (
    Applied,
    apply_changes,
    existing_hashes,
    ids_for_guids,
    tombstoned,
)
from feedhub.store.dedupe import dedupe_articles
from feedhub.store.dedupe import remove_articles as dedupe_remove
from feedhub.store.sources import apply_source_update, source_id, source_infos, sync_sources
from feedhub.store.topics import file_articles, refile_if_rules_changed
from feedhub.wiring import fetch_settings, filing, schedule_policy


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


def parse_pool(workers: int | None = None) -> Executor:
    """A process pool for parsing, forked before any thread exists (aiohttp's resolver)."""
    n = workers or max(1, min(os.cpu_count() or 1, 8))
    return ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("fork"))


def parse_job(
    kind: str, result: FetchResult, base_url: str, source_name: str, now: datetime
) -> ParsedFeed:
    """Bytes → ParsedFeed; runs in a worker process (module-level so it pickles)."""
    if kind == SourceKind.FOLDER.value:
        return parse_folder(result.files or (), base_url=base_url, source_name=source_name, now=now)
    return parse_feed(
        result.body or b"",
        url=result.final_url or result.url,
        content_type=result.content_type,
        now=now,
    )


class Ingester:
    """One ingest run's machinery: the fetcher, the parse pool and the store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        pool: Executor | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.store = store
        self.pool = pool
        self.clock = clock
        self.policy = schedule_policy(config)
        self.filing = filing(config)
        self._write_lock = asyncio.Lock()

    async def run(
        self,
        names: Sequence[str] | None = None,
        *,
        due_only: bool = False,
        on_done: Callable[[SourceReport], None] | None = None,
    ) -> list[SourceReport]:
        """Ingest the named (default: every enabled) sources once; never raises per source."""
        now = self.clock()
        with self.store.write() as conn:
            sync_sources(conn, self.config.sources, now)
            refile_if_rules_changed(conn, self.filing.digest, self.filing.rules, self.filing.forced)
        with self.store.read() as conn:
            infos = source_infos(conn, names)
        infos = [i for i in infos if i.enabled or (names and i.name in names)]
        if due_only:
            infos = [i for i in infos if i.next_due is None or i.next_due <= now]
        by_name = {s.name: s for s in self.config.sources}
        todo = [(i, by_name[i.name]) for i in infos if i.name in by_name]
        async with HttpFetcher(fetch_settings(self.config)) as fetcher:
            sem = asyncio.Semaphore(self.config.file.fetch.concurrency)

            async def one(info: SourceInfo, src: Source) -> SourceReport:
                async with sem:
                    report = await self._ingest_one(fetcher, info, src)
                if on_done:
                    on_done(report)
                return report

            return list(await asyncio.gather(*(one(i, s) for i, s in todo)))

    async def _ingest_one(
        self, fetcher: HttpFetcher, info: SourceInfo, src: Source
    ) -> SourceReport:
        started = time.perf_counter()
        result = await self._fetch(fetcher, info, src)
        now = self.clock()
        decision = decide_fetch(info, result, now=now, interval=src.interval, policy=self.policy)
        parsed: ParsedFeed | None = None
        update = decision.update
        error = result.error
        if decision.parse:
            try:
                parsed = await self._parse(src, result, now)
                update = parsed_update(
                    decision,
                    parsed,
                    source=info,
                    now=now,
                    interval=src.interval,
                    policy=self.policy,
                )
            except ParseError as e:
                error = f"not a feed: {e}"
                update = parse_failed(
                    info, decision, error, now=now, interval=src.interval, policy=self.policy
                )
            except Exception as e:  # a parser bug must not take the other sources down
                error = f"parser failure: {type(e).__name__}: {e}"
                update = parse_failed(
                    info, decision, error, now=now, interval=src.interval, policy=self.policy
                )
        async with self._write_lock:
            try:
                changes, applied, merged = await asyncio.to_thread(
                    self._apply, src, update, parsed, now
                )
            except SQLAlchemyError as e:
                # The transaction rolled back: nothing of this source is half-written, and
                # the next sweep retries it (its next-due time was not moved).
                error = f"store error: {first_line(e)}"
                changes, applied, merged = ArticleChanges(), Applied(), 0
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

    async def _parse(self, src: Source, result: FetchResult, now: datetime) -> ParsedFeed:
        args = (src.kind.value, result, self.config.file.site.base_url, src.name, now)
        if self.pool is None:
            return parse_job(*args)
        return await asyncio.get_running_loop().run_in_executor(self.pool, parse_job, *args)

    def _apply(
        self, src: Source, update: object, parsed: ParsedFeed | None, now: datetime
    ) -> tuple[ArticleChanges, Applied, int]:
        """One source's outcome in one transaction: its state, its articles, their clusters
        and topics. Returns the changes, the touched row ids and the copies merged."""
        changes = ArticleChanges()
        merged = 0
        with self.store.write() as conn:
            apply_source_update(conn, src.name, update)  # type: ignore[arg-type]
            if parsed is None:
                return changes, Applied(), merged
            sid = source_id(conn, src.name)
            assert sid is not None
            changes = decide_articles(
                existing_hashes(conn, sid),
                tombstoned(conn, sid),
                parsed,
                snapshot=src.kind is SourceKind.FOLDER,
            )
            if changes.removed:
                # The indexes must forget articles before their rows are deleted.
                gone = ids_for_guids(conn, sid, changes.removed)
                dedupe_remove(conn, gone)
                rel = self.config.file.related
                related_remove(conn, gone, count=rel.count, window=rel.window)
            applied = apply_changes(conn, sid, changes, now)
            touched = applied.new_ids + applied.changed_ids
            if self.config.file.dedupe.enabled:
                merged = dedupe_articles(
                    conn, touched, window=self.config.file.dedupe.window
                ).merges
            file_articles(conn, touched, self.filing.rules, self.filing.forced)
            return changes, applied, merged


async def ingest(
    config: Config,
    store: Store,
    names: Sequence[str] | None = None,
    *,
    workers: int | None = None,
    on_done: Callable[[SourceReport], None] | None = None,
) -> list[SourceReport]:
    """Fetch and store every enabled (or every named) source once."""
    pool = parse_pool(workers) if (workers or os.cpu_count() or 1) > 1 else None
    try:
        return await Ingester(config, store, pool=pool).run(names, on_done=on_done)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
