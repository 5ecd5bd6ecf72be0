"""Per-host concurrency caps for the fetcher.

A feed host must not see more than a few requests at once from us however many of its
feeds are due together; one semaphore per host does that. Semaphores are dropped when no
task holds or waits for them so the map does not grow with every host ever fetched.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class HostLimiter:
    """At most ``limit`` concurrent holders per host key."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._slots: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Hold one of ``host``'s slots for the duration of the block."""
        entry = self._slots.get(host)
        if entry is None:
            entry = self._slots[host] = (asyncio.Semaphore(self._limit), [0])
        sem, users = entry
        users[0] += 1  # holders and waiters: the entry may go only when nobody needs it
        try:
            async with sem:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._slots[host]

    def __len__(self) -> int:
        """Hosts currently held or waited for."""
        return len(self._slots)
