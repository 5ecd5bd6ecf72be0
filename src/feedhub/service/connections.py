"""Connection hygiene for the HTTP server: a cap on open connections and quiet client errors.

An outside probe held 300 connections open by sending one header byte a second: with the
open-file limit at 256 the healthy client timed out, publishes failed with "Too many open
files" and asyncio logged ``socket.accept() out of system resource`` 250,000 times. So:
a request head must arrive within ``server.read_timeout`` (aiohttp's keep-alive timer,
which also closes idle connections), the server keeps fewer connections open than the
process may open files, and a malformed request is one short INFO line instead of an
ERROR with a traceback.

At the cap a new connection closes the oldest open one, if that is older than
``EVICT_AFTER`` (a healthy client sends its request within milliseconds, so what is old is
a slow client or an idle keep-alive one): slow clients cannot lock healthy ones out.
Only when every connection is younger is the new one answered 503. Either is one warning
a minute.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger("feedhub.server")
http_log = logging.getLogger("feedhub.http")  # aiohttp's per-connection messages

FD_RESERVE = 64  # files the rest of the service needs: store, pipes, workers, file reads
# asyncio accepts up to ``backlog`` connections in one go before any reaches our protocol
# factory, so that many can be open beyond the count the factory sees.
ACCEPT_BATCH = 100
DEFAULT_MAX_CONNECTIONS = 10_000
WARN_EVERY = 60.0  # seconds between "connection limit reached" warnings
EVICT_AFTER = 0.5  # seconds: a connection this old may be closed for a new one at the cap
CLIENT_ERROR_EVERY = 60.0  # seconds between lines about malformed requests
REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 21\r\nRetry-After: 5\r\nConnection: close\r\n\r\n"
    b"too many connections\n"
)


def open_file_limit() -> int:
    """The process's soft limit on open files."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connection_cap(configured: int, fd_limit: int) -> int:
    """Open connections at most: ``configured`` (0: automatic), but always below the
    open-file limit minus what the rest of the service needs and one accept batch."""
    reserve = max(FD_RESERVE, fd_limit // 4) + ACCEPT_BATCH
    room = max(8, fd_limit - reserve) if fd_limit > 0 else DEFAULT_MAX_CONNECTIONS
    return min(configured or DEFAULT_MAX_CONNECTIONS, room)


class _Refuse(asyncio.Protocol):
    """Answers one over-the-cap connection with 503 and closes it at once.

    Its descriptor must go now: a burst of refused connections kept open even a moment
    exhausted the file limit. (A client whose request is still unread may see a reset
    instead of the 503; either way it is turned away.)
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(REFUSED)
        transport.close()


class CappedSite(web.BaseSite):
    """A TCP listener that keeps at most ``cap`` connections open (see the module
    docstring)."""

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, cap: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(runner)
        self._host, self._port, self.cap = host, port, cap
        self._clock = clock
        self._opened: OrderedDict[web.RequestHandler, float] = OrderedDict()  # oldest first
        self._warned_at: float | None = None
        self.closed_for_new = 0
        self.refused = 0

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None

        def factory() -> asyncio.Protocol:
            if len(server.connections) >= self.cap and not self._close_oldest():
                self.refused += 1
                self._warn()
                return _Refuse()
            handler = server()
            self._opened[handler] = self._clock()
            # Closed connections leave the bookkeeping in batches: it stays within about
            # twice what is open (it would otherwise hold every handler until the cap).
            if len(self._opened) > 2 * len(server.connections) + FD_RESERVE:
                self._forget_closed()
            return handler

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            factory, self._host, self._port, reuse_address=True, backlog=ACCEPT_BATCH
        )

    def _close_oldest(self) -> bool:
        """Close the oldest open connection if it is older than EVICT_AFTER; True if one was."""
        now = self._clock()
        while self._opened:
            handler, opened = next(iter(self._opened.items()))
            if now - opened < EVICT_AFTER:
                return False  # every other one is younger still
            del self._opened[handler]
            if handler.transport is None:
                continue  # closed already
            handler.force_close()
            self.closed_for_new += 1
            self._warn()
            return True
        return False

    def _forget_closed(self) -> None:
        """Drop closed connections from the bookkeeping (one just accepted has no
        transport yet either: only those older than EVICT_AFTER)."""
        now = self._clock()
        for handler in [
            h for h, t in self._opened.items() if h.transport is None and now - t >= EVICT_AFTER
        ]:
            del self._opened[handler]

    def _warn(self) -> None:
        """The "limit reached" warning, at most once every WARN_EVERY seconds."""
        now = self._clock()
        if self._warned_at is None or now - self._warned_at >= WARN_EVERY:
            log.warning(
                "connection limit reached (%d; server.max_connections, or the open-file "
                "limit %d): %d oldest connections closed for new ones, %d refused with 503 "
                "so far", self.cap, open_file_limit(), self.closed_for_new, self.refused,
            )
            self._warned_at = now


class ClientErrorFilter(logging.Filter):
    """aiohttp's "Error handling request" for a malformed request (a client error, 4xx)
    becomes one short INFO line, at most once every ``every`` seconds; server errors
    pass as they are."""

    def __init__(self, every: float = CLIENT_ERROR_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every = every
        self._clock = clock
        self._next = 0.0
        self._dropped = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError) or not 400 <= (exc.code or 400) < 500:
            return True
        with self._lock:
            now = self._clock()
            if now < self._next:
                self._dropped += 1
                return False
            self._next = now + self.every
            dropped, self._dropped = self._dropped, 0
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        reason = " ".join(str(exc.message or type(exc).__name__).split())[:120]
        record.levelno = min(record.levelno, logging.INFO)
        record.levelname = logging.getLevelName(record.levelno)
        record.msg = "bad request from %s: %s%s"
        record.args = (remote, reason, f" ({dropped} more since, not shown)" if dropped else "")
        record.exc_info = None
        record.exc_text = None
        return True


def quiet_client_errors() -> logging.Logger:
    """The logger to give aiohttp's request handlers (with ``ClientErrorFilter``)."""
    if not any(isinstance(f, ClientErrorFilter) for f in http_log.filters):
        http_log.addFilter(ClientErrorFilter())
    return http_log
