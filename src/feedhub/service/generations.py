"""What fetching needs under one config (a *generation*): its ingester, an open fetcher
and the fetch slots. A reload starts a new one; the old one closes after its last fetch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from feedhub.config import Config
from feedhub.fetch import HttpFetcher
from feedhub.ingest.run import Ingester, SourceReport
from feedhub.wiring import fetch_settings


class Slots(asyncio.Semaphore):
    """The fetch slots (``fetch.concurrency``); tells the scheduler when a task is done
    with its network part, so it can claim more sources while that one parses and writes."""

    def __init__(self, value: int, on_release: Callable[[asyncio.Task[object]], None]) -> None:
        super().__init__(value)
        self._on_release = on_release

    def release(self) -> None:
        super().release()
        task = asyncio.current_task()
        if task is not None:
            self._on_release(task)


@dataclass
class Generation:
    """What fetching needs under one config: its ingester, an open fetcher and the
    concurrency cap."""

    config: Config
    ingester: Ingester
    fetcher: HttpFetcher
    slots: asyncio.Semaphore
    tasks: set[asyncio.Task[SourceReport | None]] = field(default_factory=set)

    @classmethod
    async def open(
        cls,
        config: Config,
        ingester: Ingester,
        on_slot_release: Callable[[asyncio.Task[object]], None],
    ) -> Generation:
        """A generation for ``config`` with its fetcher opened."""
        fetcher = HttpFetcher(fetch_settings(config))
        await fetcher.__aenter__()
        return cls(
            config, ingester, fetcher, Slots(config.file.fetch.concurrency, on_slot_release)
        )


class Generations:
    """The current generation, and the replaced ones until their fetches are done."""

    def __init__(self) -> None:
        self.current: Generation | None = None
        self._retiring: set[asyncio.Task[None]] = set()

    def replace(self, gen: Generation) -> None:
        """Make ``gen`` current; the one it replaces closes after its in-flight fetches."""
        old, self.current = self.current, gen
        if old is not None:
            task = asyncio.create_task(_retire(old))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        """Close every fetcher: the replaced generations' at once, without waiting for their
        fetches (1 s at most), then the current one's."""
        for task in list(self._retiring):
            task.cancel()
        if self._retiring:
            await asyncio.wait(set(self._retiring), timeout=1.0)
        if self.current is not None:
            await self.current.fetcher.close()
            self.current = None


async def _retire(gen: Generation) -> None:
    """Close a replaced generation's fetcher once its in-flight fetches are done."""
    try:
        if gen.tasks:
            await asyncio.wait(set(gen.tasks))
    finally:
        await gen.fetcher.close()
