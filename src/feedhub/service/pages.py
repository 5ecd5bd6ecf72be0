"""Article pages in the service (full text, issue 15): one ``PageRunner`` beside the
scheduler, woken when an ingest queues pages, so that no source and no publish waits for
an article host. A stored page arms the debounced publish; a reload swaps the config."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from concurrent.futures import Executor

from feedhub.config import Config
from feedhub.ingest.pages import PageRunner
from feedhub.ingest.run import SourceReport, fetch_pages, utcnow
from feedhub.model import FullText
from feedhub.store import Store
from feedhub.wiring import page_settings

log = logging.getLogger("feedhub.service")


class Pages:
    """The page runner's task: started with the due-time loop, stopped with it."""

    def __init__(self, store: Store, pool: Executor | None) -> None:
        self.store = store
        self.pool = pool
        self._runner: PageRunner | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, config: Config, on_stored: Callable[[], None]) -> None:
        self._task = asyncio.create_task(self._serve(config, on_stored), name="article pages")

    async def _serve(self, config: Config, on_stored: Callable[[], None]) -> None:
        runner = PageRunner(config, self.store, page_settings(config), pool=self.pool,
                            clock=utcnow)
        async with runner:
            self._runner = runner
            try:
                await runner.serve(on_stored)
            finally:
                self._runner = None

    def ingested(self, config: Config, report: SourceReport) -> None:
        """After a source's ingest: wake the runner if it queued pages."""
        if self._runner is None or not (report.new_ids or report.changed_ids):
            return
        src = config.source(report.name)
        if src is not None and src.full_text is not FullText.OFF:
            self._runner.wake()

    def reload(self, config: Config) -> None:
        if self._runner is not None:
            self._runner.use(config)

    async def drain(self, config: Config, names: Collection[str]) -> None:
        """``run --once``: the pages of the sources just ingested, before it exits."""
        await fetch_pages(config, self.store, self.pool, list(names))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=3.0)
            self._task = None
