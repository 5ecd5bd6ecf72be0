"""A real HTTP/1.1 server on 127.0.0.1 (or another loopback address, such as 127.0.0.2)
for tests, running its own event loop in a thread.

Tests program it route by route (status, headers, body, gzip, slow trickle, endless body,
connection reset, lying Content-Length, redirects) and read back what it saw: every
request with its headers, per-path counts and the highest number of requests it served
at once.
It runs in a thread so that sync tests, `asyncio.run` tests and subprocesses can all use
it the same way.

    with HttpServer() as srv:
        srv.route("/feed", Reply(body=b"<rss/>", headers={"ETag": '"v1"'}))
        srv.route("/old", redirect("/feed", 301))
        url = srv.url("/old")
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy


@dataclass(frozen=True)
class Reply:
    """What the server answers on one route.

    The body is sent in pieces of ``chunk_size`` bytes (0: all at once) with ``trickle``
    seconds between pieces; ``chunked`` drops Content-Length (chunked transfer encoding);
    ``content_length`` announces a length of your choice — it may lie, in which case the
    server sends what it has and then keeps the connection open.
    """

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    chunk_size: int = 0
    trickle: float = 0.0
    chunked: bool = False
    content_length: int | None = None
    reset: bool = False  # answer with a TCP RST instead of a response
    endless: bool = False  # send ``body`` over and over until the client hangs up

    @classmethod
    def gzipped(cls, data: bytes, headers: Mapping[str, str] | None = None, **kwargs: Any) -> Reply:
        """A reply whose body is ``data`` gzip-compressed, with Content-Encoding: gzip."""
        headers = {**(headers or {}), "Content-Encoding": "gzip"}
        return cls(body=gzip.compress(data, compresslevel=9), headers=headers, **kwargs)


def redirect(location: str, status: int = 302) -> Reply:
    """A redirect to ``location`` (absolute, or relative to the request URL)."""
    return Reply(status=status, headers={"Location": location})


@dataclass(frozen=True)
class SeenRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: str
    headers: CIMultiDictProxy[str]


Responder = Reply | Callable[[SeenRequest], Reply]


class HttpServer:
    """A programmable HTTP server on ``host`` with request counting and concurrency stats."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self._ssl = ssl_context  # serve HTTPS with this context when given
        self.host = host  # Linux routes all of 127/8 to lo: 127.0.0.2 is a second host
        self._routes: dict[str, Responder] = {}
        self._lock = threading.Lock()
        self._seen: list[SeenRequest] = []
        self._active = 0
        self._max_active = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- programming -------------------------------------------------------------------

    def route(self, path: str, responder: Responder) -> None:
        """Answer ``path`` (exact match, query ignored) with a Reply or a function of one."""
        with self._lock:
            self._routes[path] = responder

    def url(self, path: str = "/") -> str:
        """The absolute URL of ``path`` on this server."""
        scheme = "https" if self._ssl else "http"
        return f"{scheme}://{self.host}:{self.port}{path}"

    # -- observations ------------------------------------------------------------------

    @property
    def requests(self) -> list[SeenRequest]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._seen)

    def count(self, path: str | None = None) -> int:
        """How many requests arrived (for ``path`` only, when given)."""
        return sum(1 for r in self.requests if path is None or r.path == path)

    @property
    def max_active(self) -> int:
        """The highest number of requests being handled at the same moment."""
        with self._lock:
            return self._max_active

    def reset_stats(self) -> None:
        """Forget requests seen and the concurrency high-water mark."""
        with self._lock:
            self._seen.clear()
            self._max_active = self._active

    # -- serving -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        headers = CIMultiDictProxy(CIMultiDict(request.headers))
        seen = SeenRequest(request.method, request.path, request.query_string, headers)
        with self._lock:
            self._seen.append(seen)
            self._active += 1
            self._max_active = max(self._max_active, self._active)
            responder = self._routes.get(request.path)
        try:
            if responder is None:
                return web.Response(status=404, text="no such route")
            reply = responder(seen) if callable(responder) else responder
            return await self._send(request, reply)
        finally:
            with self._lock:
                self._active -= 1

    @staticmethod
    async def _send(request: web.Request, reply: Reply) -> web.StreamResponse:
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.reset:
            transport = request.transport
            assert transport is not None
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            raise asyncio.CancelledError  # nothing more to say on a dead connection
        resp = web.StreamResponse(status=reply.status, headers=reply.headers)
        if reply.chunked:
            resp.enable_chunked_encoding()
        else:
            resp.content_length = (
                reply.content_length if reply.content_length is not None else len(reply.body)
            )
        await resp.prepare(request)
        size = reply.chunk_size or max(len(reply.body), 1)
        try:
            for start in range(0, len(reply.body), size):
                if start and reply.trickle:
                    await asyncio.sleep(reply.trickle)
                await resp.write(reply.body[start : start + size])
            while reply.endless and reply.body:
                await resp.write(reply.body)
            if reply.content_length is not None and reply.content_length > len(reply.body):
                await asyncio.sleep(3600)  # a lying length: hold the connection until shutdown
            await resp.write_eof()
        except ConnectionError:
            pass  # the client hung up mid-body, as clients under test are meant to
        return resp

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> HttpServer:
        """Start serving on a free port of ``host``; returns once it accepts connections."""
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def setup() -> None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            # A short shutdown_timeout: slow handlers are cancelled instead of waited for.
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, 0, ssl_context=self._ssl)
            await site.start()
            self.port = self._runner.addresses[0][1]

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(setup())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="test-http-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("test HTTP server did not start")
        return self

    def stop(self) -> None:
        """Stop serving, cancel slow handlers and join the thread."""
        if self._loop is None or self._thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        # Handlers still sleeping (a trickle, a lying length) would be destroyed pending
        # with the loop, and Python prints "Task was destroyed but it is pending!" at exit.
        asyncio.run_coroutine_threadsafe(_cancel_others(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def _cancel_others() -> None:
    """Cancel every task of the running loop but this one, and wait for them to end."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
