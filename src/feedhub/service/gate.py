"""Write transactions of the service process take turns in arrival order.

The service writes from several threads: each fetched source's ingest transaction and the
publisher's related-list batches. SQLite serializes them with ``BEGIN IMMEDIATE`` and a
busy handler that polls with growing sleeps, which is not fair: a thread that commits and
at once begins again (the publisher's batches) keeps winning, and the sleeping ingest
writers starve (a soak run saw every fetch stuck behind a publish for a minute and
retention fail with "database is locked"). A FIFO gate in front of ``Store.write`` hands
the lock over in arrival order, so one batch is the longest an ingest write waits.

FIFO alone still gives ingest one write per publish batch (the ingester writes one source
at a time), about 100 times too few for 1,000 sources due every 5–15 s. So writes from a
thread marked ``background()`` (publishing, retention) also give way: they wait until no
foreground writer has held or wanted the lock for ``YIELD_FOR``, but never longer than
``MAX_DEFER`` per transaction, so publishing still progresses under full ingest load.
Other processes (a ``feedhub ingest`` beside the service) still meet the busy timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from feedhub.store import Store

YIELD_FOR = 0.05  # foreground quiet this long before a background transaction begins
MAX_DEFER = 1.0  # the longest a background transaction gives way


class FifoLock:
    """A re-entrant lock granted in the order it was asked for (a ticket lock)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._next_ticket = 0
        self._serving = 0
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self) -> FifoLock:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return self
            ticket = self._next_ticket
            self._next_ticket += 1
            while self._serving != ticket:
                self._cond.wait()
            self._owner, self._depth = me, 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._serving += 1
                self._cond.notify_all()

    @property
    def waiting(self) -> int:
        """Threads queued behind the holder."""
        with self._cond:
            return max(0, self._next_ticket - self._serving - 1)


class WriteGate:
    """The process's write lock: FIFO, with background writers giving way (see above)."""

    def __init__(self, yield_for: float = YIELD_FOR, max_defer: float = MAX_DEFER) -> None:
        self.lock = FifoLock()
        self.yield_for = yield_for
        self.max_defer = max_defer
        self._cond = threading.Condition(threading.Lock())
        self._foreground = 0  # foreground writers holding or waiting
        self._quiet_since = 0.0  # monotonic time the last foreground writer left
        self._local = threading.local()

    @contextmanager
    def background(self) -> Iterator[None]:
        """Mark this thread's writes, for the duration, as background."""
        before = getattr(self._local, "background", False)
        self._local.background = True
        try:
            yield
        finally:
            self._local.background = before

    @contextmanager
    def hold(self) -> Iterator[None]:
        nested = self.lock._owner == threading.get_ident()
        if getattr(self._local, "background", False) or nested:
            if not nested:
                self._give_way()
            with self.lock:
                yield
            return
        with self._cond:
            self._foreground += 1
        try:
            with self.lock:
                yield
        finally:
            with self._cond:
                self._foreground -= 1
                self._quiet_since = time.monotonic()
                self._cond.notify_all()

    def _give_way(self) -> None:
        deadline = time.monotonic() + self.max_defer
        with self._cond:
            while (now := time.monotonic()) < deadline:
                quiet = now - self._quiet_since
                if not self._foreground and quiet >= self.yield_for:
                    return
                wait = deadline - now if self._foreground else self.yield_for - quiet
                self._cond.wait(min(deadline - now, max(0.001, wait)))


class GatedStore(Store):
    """The service's ``Store``: ``write()`` goes through the process's ``WriteGate``."""

    def __init__(self, engine: object) -> None:
        super().__init__(engine)  # type: ignore[arg-type]
        self.gate = WriteGate()

    @contextmanager
    def write(self, *, bump: bool = True) -> Iterator[Connection]:
        with self.gate.hold(), super().write(bump=bump) as conn:
            yield conn


@contextmanager
def background(store: Store) -> Iterator[None]:
    """This thread's writes to ``store`` give way to ingest (a no-op for a plain Store)."""
    if isinstance(store, GatedStore):
        with store.gate.background():
            yield
    else:
        yield
