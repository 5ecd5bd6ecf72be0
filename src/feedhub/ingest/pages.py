"""Article pages: fetch, extract, store (full text, issue 15). The runner of the enrich stage.

Ingest queues a page for every new or changed article of a source with ``full_text`` on
(``store/pages.py``, in the source's write transaction). This runner claims queued pages,
fetches them through an ``HttpFetcher`` of their own (the feed fetcher's limits: SSRF guard
on every hop, body cap, timeouts, gzip limits, User-Agent; ``pages_per_host`` requests at a
time per host), checks ``robots.txt`` first (once per host, cached), extracts the article in
a parse worker (``enrich/extract.py``) and stores it in one short transaction per page.

Nothing here holds up a source: ingest stores and publishes the entry with its teaser,
and a page that arrives later updates it (``publish``) or only its analysis (``analyze``).
The service runs ``serve`` beside its scheduler; ``feedhub fetch`` runs ``drain`` after
its ingest and so waits for its pages (bounded by the timeouts and retries).

Each bad page (HTTP error, not HTML, too big, no article, boilerplate, robots.txt says
no) keeps the teaser, logs one line and is counted in ``feedhub sources``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING

from yarl import URL

from feedhub.config import Config
from feedhub.enrich.robots import Robots, robots_from
from feedhub.fetch import FetchSettings, HttpFetcher
from feedhub.ingest.pool import ParsePool
from feedhub.model import Extracted, FetchResult, FullText
from feedhub.store import Store, first_line
from feedhub.store.advisory import INGEST_LOCK, xact_lock
from feedhub.store.pages import (
    PageJob,
    claim_pages,
    drop_page,
    page_done,
    page_failed,
    release_pages,
)
from feedhub.wiring import filing

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger("feedhub.pages")

ROBOTS_TTL = 24 * 3600.0  # seconds a host's robots.txt is trusted
ROBOTS_RETRY = 600.0  # …and an unreachable one's "no"
MAX_IN_FLIGHT = 200  # claimed pages per runner at a time (the fetcher caps requests)
RETRY_AFTER_CAP = 60.0  # seconds: a longer Retry-After is a failure, not a wait


@dataclass(frozen=True, slots=True)
class PageSettings:
    """How pages are fetched (built by ``wiring.page_settings``)."""

    fetch: FetchSettings = field(default_factory=lambda: FetchSettings(per_host=1))
    retries: int = 2  # further tries after a failure that may pass
    backoff: float = 1.0  # seconds before the first retry, doubled each time
    robots: bool = True
    lease: timedelta = timedelta(minutes=10)  # how long a claim holds (several workers)


@dataclass(frozen=True, slots=True)
class PageReport:
    """What came of one page."""

    article_id: int
    source: str
    url: str
    error: str | None = None  # None: the article's text is stored
    status: int | None = None


def extract_job(body: bytes, content_type: str | None, url: str, teaser: str) -> Extracted:
    """``enrich.extract.extract_page`` in a parse worker (module-level: it pickles)."""
    from feedhub.enrich.extract import extract_page

    return extract_page(body, content_type, url, teaser)


def retryable(result: FetchResult) -> bool:
    """A failure that may pass: no answer (``FetchResult.transient``), 429 or 5xx. Refusals
    by the SSRF guard or the body cap, and other HTTP errors, would fail the same way."""
    if result.status is None:
        return result.transient
    return result.status == 429 or result.status >= 500


class PageRunner:
    """Fetches and stores queued article pages; use as ``async with PageRunner(…)``."""

    def __init__(
        self,
        config: Config,
        store: Store,
        settings: PageSettings,
        *,
        pool: Executor | None = None,
        clock: Callable[[], datetime],
    ) -> None:
        self.config = config
        self.store = store
        self.settings = settings
        self.pool = pool
        self.clock = clock
        self._fetcher: HttpFetcher | None = None
        self._robots: dict[str, tuple[Robots, float]] = {}
        self._robots_wait: dict[str, asyncio.Future[Robots]] = {}
        self._held: set[int] = set()  # article ids claimed by this runner, in flight
        self._wake = asyncio.Event()
        self._filing = filing(config)

    async def __aenter__(self) -> PageRunner:
        self._fetcher = HttpFetcher(self.settings.fetch)
        await self._fetcher.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fetcher is not None:
            await self._fetcher.close()
            self._fetcher = None

    def use(self, config: Config) -> None:
        """A reloaded config: modes and topic rules for the pages stored from now on."""
        self.config = config
        self._filing = filing(config)

    # -- driving ----------------------------------------------------------------------

    async def drain(self, source_names: Collection[str] | None = None) -> list[PageReport]:
        """Fetch every claimable page (of ``source_names`` only, when given) until none is
        left: ``feedhub fetch``, which must not exit before its pages are in."""
        reports: list[PageReport] = []
        while jobs := await asyncio.to_thread(self._claim, MAX_IN_FLIGHT, source_names):
            reports += await asyncio.gather(*(self.one(j) for j in jobs))
        return reports

    def wake(self) -> None:
        """New pages were queued (``serve`` claims them now)."""
        self._wake.set()

    async def serve(self, on_stored: Callable[[], None], poll: float = 60.0) -> None:
        """The service's loop: claim pages as they are queued (``wake``) or every ``poll``
        seconds (other workers' leftovers), each page in its own task so that a slow host
        holds up its own pages only. ``on_stored`` runs after each stored text (publish)."""
        tasks: set[asyncio.Task[PageReport]] = set()

        def done(t: asyncio.Task[PageReport]) -> None:
            tasks.discard(t)
            if not t.cancelled() and t.exception() is None and t.result().error is None:
                on_stored()
            self._wake.set()  # room for more

        try:
            while True:
                self._wake.clear()
                room = MAX_IN_FLIGHT - len(tasks)
                if room > 0:
                    try:
                        jobs = await asyncio.to_thread(self._claim, room, None)
                    except Exception as e:  # the store is busy or down: next round
                        log.warning("cannot claim article pages: %s", first_line(e))
                        jobs = []
                    for job in jobs:
                        t = asyncio.create_task(self.one(job), name=f"page {job.article_id}")
                        tasks.add(t)
                        t.add_done_callback(done)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), poll)
        finally:
            held = set(self._held)
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=1.0)
            if held:  # claimable again by the next start (or another worker) at once
                try:
                    await asyncio.to_thread(self._write, lambda c: release_pages(c, held))
                except Exception as e:
                    log.warning("cannot hand back %d article pages: %s", len(held), first_line(e))

    def _claim(self, limit: int, source_names: Collection[str] | None) -> list[PageJob]:
        now = self.clock()
        with self.store.write() as conn:
            jobs = claim_pages(
                conn, now, now + self.settings.lease, limit,
                source_names=source_names, exclude=self._held,
            )
        self._held.update(j.article_id for j in jobs)
        return jobs

    # -- one page ---------------------------------------------------------------------

    async def one(self, job: PageJob) -> PageReport:
        """Fetch, extract and store one page; never raises for the page's faults."""
        try:
            report = await self._one(job)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug must not take the other pages down
            log.exception("%s: full text of %s failed", job.source, job.url)
            report = PageReport(job.article_id, job.source, job.url, f"internal error: {e}")
        finally:
            self._held.discard(job.article_id)
        return report

    async def _one(self, job: PageJob) -> PageReport:
        mode = self._mode(job.source)
        if mode is FullText.OFF:
            await asyncio.to_thread(self._write, lambda conn: drop_page(conn, job.article_id))
            return PageReport(job.article_id, job.source, job.url, "full text is off")
        if self.settings.robots and not (await self._robots_for(job.url)).allows(job.url):
            return await self._failed(job, "disallowed by robots.txt", None)
        result = await self._fetch(job.url)
        if result.error is not None or result.body is None:
            return await self._failed(job, result.error or "empty response", result.status)
        final = result.final_url or job.url
        ext = await self._extract(result.body, result.content_type, final, job.teaser)
        if ext.error is not None:
            return await self._failed(job, ext.error, result.status)
        publish = mode is FullText.PUBLISH
        now = self.clock()
        await asyncio.to_thread(
            self._write, lambda conn: self._store(conn, job, ext, result.status, now, publish)
        )
        log.debug("%s: full text of %s: %d characters", job.source, job.url, ext.chars)
        return PageReport(job.article_id, job.source, job.url, None, result.status)

    def _store(
        self,
        conn: Connection,
        job: PageJob,
        ext: Extracted,
        status: int | None,
        now: datetime,
        publish: bool,
    ) -> None:
        """The page's text in, and the analysis that reads it redone: dedupe, topics
        (related news: the article is queued for the next publish, ``page_done``)."""
        from feedhub.dedupe.cluster import dedupe_articles
        from feedhub.store.topics import file_articles

        xact_lock(conn, INGEST_LOCK)  # as ingest: dedupe must see every committed article
        if not page_done(conn, job.article_id, ext, status, now, publish=publish):
            return  # the article went meanwhile (retention, a folder deletion)
        dedupe = self.config.file.dedupe
        if dedupe.enabled:
            dedupe_articles(conn, [job.article_id], window=dedupe.window)
        file_articles(conn, [job.article_id], self._filing.rules, self._filing.forced)

    def _mode(self, source: str) -> FullText:
        src = self.config.source(source)
        return src.full_text if src is not None else FullText.OFF

    async def _failed(self, job: PageJob, error: str, status: int | None) -> PageReport:
        # One line per bad page; the teaser stays, `feedhub sources` counts it.
        log.warning("%s: no full text from %s: %s", job.source, job.url, error)
        now = self.clock()
        await asyncio.to_thread(
            self._write, lambda conn: page_failed(conn, job.article_id, error, status, now)
        )
        return PageReport(job.article_id, job.source, job.url, error, status)

    def _write(self, fn: Callable[[Connection], object]) -> None:
        with self.store.write() as conn:
            fn(conn)

    async def _fetch(self, url: str) -> FetchResult:
        """The page, with bounded retries and backoff for failures that may pass."""
        assert self._fetcher is not None
        delay = self.settings.backoff
        for attempt in range(self.settings.retries + 1):
            result = await self._fetcher.fetch(url, page=True)
            if result.ok or not retryable(result) or attempt == self.settings.retries:
                return result
            wait = delay
            if result.retry_after is not None:
                wait = max(wait, result.retry_after.total_seconds())
                if wait > RETRY_AFTER_CAP:
                    return result
            await asyncio.sleep(wait)  # backoff between tries, not synchronisation
            delay *= 2
        raise AssertionError("unreachable")

    async def _extract(
        self, body: bytes, content_type: str | None, url: str, teaser: str
    ) -> Extracted:
        args = (body, content_type, url, teaser)
        if isinstance(self.pool, ParsePool):
            return await self.pool.run(extract_job, *args)
        if self.pool is not None:
            return await asyncio.get_running_loop().run_in_executor(self.pool, extract_job, *args)
        return await asyncio.to_thread(extract_job, *args)

    # -- robots.txt -------------------------------------------------------------------

    async def _robots_for(self, url: str) -> Robots:
        """The rules of ``url``'s host: cached, fetched once however many pages ask."""
        u = URL(url)
        origin = str(u.origin())
        cached = self._robots.get(origin)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        waiting = self._robots_wait.get(origin)
        if waiting is not None:
            return await asyncio.shield(waiting)
        fut: asyncio.Future[Robots] = asyncio.get_running_loop().create_future()
        self._robots_wait[origin] = fut
        try:
            assert self._fetcher is not None
            result = await self._fetcher.fetch(f"{origin}/robots.txt", page=True)
            rules = robots_from(result.status if result.ok or result.status else None,
                                result.body)
            ttl = ROBOTS_RETRY if rules.deny_all else ROBOTS_TTL
            self._robots[origin] = (rules, time.monotonic() + ttl)
            fut.set_result(rules)
            return rules
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            del self._robots_wait[origin]
