"""The HTTP server: published files (ETag/Last-Modified/304, gzip) plus health and metrics.

Serves ``config.output_dir`` read-only. The live config is read from ``ServiceState`` on
every request, so a SIGHUP reload that moves the output folder or sets a WebSub hub takes
effect without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web

from feedhub.config import Config
from feedhub.config.schema import ServerConfig
from feedhub.service.conditional import accepts_gzip, etag_matches, http_date, not_modified_since
from feedhub.service.connections import (
    CappedSite,
    connection_cap,
    open_file_limit,
    quiet_client_errors,
)
from feedhub.service.files import (
    MIN_GZIP_SIZE,
    FileCache,
    compressible,
    content_type,
    varies_on_accept,
)
from feedhub.service.files import resolve_request as resolve_file
from feedhub.service.metrics import CONTENT_TYPE as METRICS_TYPE
from feedhub.service.reload import reload_config
from feedhub.service.state import ServiceState
from feedhub.store import Store, first_line

log = logging.getLogger("feedhub.server")
access_log = logging.getLogger("feedhub.access")

CACHE_MAX_AGE = 300  # seconds: readers poll often; ETag revalidation keeps that cheap
STORE_PING_TIMEOUT = 5.0
SHUTDOWN_TIMEOUT = 2.0  # seconds given to open requests when the server stops

STATE = web.AppKey("state", ServiceState)
STORE = web.AppKey("store", Store)
CACHE = web.AppKey("cache", FileCache)
FILES = web.AppKey("files", bool)


def make_app(
    config: Config, store: Store, state: ServiceState | None = None, *, files: bool = True
) -> web.Application:
    """The aiohttp application. ``state`` (shared with the scheduler) holds the live config;
    without one, ``config`` is served with no scheduler (readiness then ignores it).
    ``files=False``: the probes and metrics only (a fetch or publish worker)."""
    app = web.Application()
    app[STATE] = state or ServiceState(config, with_scheduler=False)
    app[STORE] = store
    app[CACHE] = FileCache()
    app[FILES] = files
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    if files:
        app.router.add_get("/{tail:.*}", published_file)  # add_get also answers HEAD
    return app


async def healthz(request: web.Request) -> web.Response:
    """Alive: the event loop answers."""
    return web.Response(text="ok\n", headers={"Cache-Control": "no-store"})


async def readyz(request: web.Request) -> web.Response:
    """Ready: the store answers, the scheduler runs and its sweeps make progress, and
    (where files are served) every published file is there."""
    state = request.app[STATE]
    problem = (
        await store_problem(request.app[STORE])
        or state.scheduler_problem()
        or (files_problem(state.config) if request.app[FILES] else None)
    )
    if problem:
        return web.Response(status=503, text=problem + "\n", headers={"Cache-Control": "no-store"})
    return web.Response(text="ready\n", headers={"Cache-Control": "no-store"})


async def store_problem(store: Store) -> str | None:
    """One line describing why the store does not answer ``SELECT 1``, or None."""

    try:
        # In a thread with a bound: a hung database must not hang the event loop or probe.
        await asyncio.wait_for(asyncio.to_thread(store.ping), STORE_PING_TIMEOUT)
    except TimeoutError:
        return "store not answering"
    except Exception as e:
        return f"store error: {first_line(e)}"
    return None


def files_problem(config: Config) -> str | None:
    """One line naming the published files that are missing, or None."""
    from feedhub.publish.outputs import missing_files

    missing = missing_files(config)
    if not missing:
        return None
    shown = ", ".join(missing[:3]) + (", …" if len(missing) > 3 else "")
    return f"published files missing: {shown}"


async def metrics(request: web.Request) -> web.Response:
    body = request.app[STATE].metrics.render()
    return web.Response(body=body, headers={"Content-Type": METRICS_TYPE})


async def published_file(request: web.Request) -> web.Response:
    """A file of the output folder, with validators, conditional 304s and gzip."""
    state = request.app[STATE]
    path = resolve_file(state.config.output_dir, request.raw_path)
    if path is None:
        raise web.HTTPNotFound(text="not found\n")
    try:
        st = path.stat()
        cache = request.app[CACHE]
        entry = cache.get(path, st) or await asyncio.to_thread(cache.load, path)
    except OSError:  # removed between lookup and read
        raise web.HTTPNotFound(text="not found\n") from None
    headers = {
        "Content-Type": content_type(path, request.headers.get("Accept", "")),
        "Last-Modified": http_date(entry.mtime),
        "Cache-Control": f"public, max-age={CACHE_MAX_AGE}",
        "X-Content-Type-Options": "nosniff",
    }
    use_gzip = False
    vary = ["Accept"] if varies_on_accept(path) else []
    if compressible(path):
        vary.append("Accept-Encoding")
        use_gzip = len(entry.body) >= MIN_GZIP_SIZE and accepts_gzip(
            request.headers.get("Accept-Encoding", "")
        )
    if vary:
        headers["Vary"] = ", ".join(vary)
    headers["ETag"] = entry.gzip_etag if use_gzip else entry.etag
    hub = state.config.file.site.websub_hub
    if hub:
        # WebSub discovery wants both the hub and the topic's own URL (W3C WebSub §4).
        self_url = state.config.file.site.base_url + request.path.lstrip("/")
        headers["Link"] = f'<{hub}>; rel="hub", <{self_url}>; rel="self"'
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:  # takes precedence over If-Modified-Since (RFC 9110 §13.2.2)
        fresh = etag_matches(if_none_match, headers["ETag"])
    else:
        since = request.headers.get("If-Modified-Since")
        fresh = since is not None and not_modified_since(since, entry.mtime)
    if fresh:
        del headers["Content-Type"]
        return web.Response(status=304, headers=headers)
    body = entry.body
    if use_gzip:
        body = entry.gzipped or await asyncio.to_thread(entry.compress)
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers=headers)


async def start_server(
    app: web.Application, host: str, port: int, limits: ServerConfig | None = None
) -> web.AppRunner:
    """Listen on host:port; raises OSError when the address is taken.

    ``limits``: the read timeout and connection cap (``server.*``; defaults without).
    """
    limits = limits or ServerConfig()
    runner = web.AppRunner(
        app, access_log=access_log, shutdown_timeout=SHUTDOWN_TIMEOUT,
        access_log_format='%a "%r" %s %b %Tfs', logger=quiet_client_errors(),
        # aiohttp closes a connection whose next request head has not arrived when this
        # runs out (its default, an hour, let a slow-loris client hold a socket forever).
        keepalive_timeout=limits.read_timeout.total_seconds(),
    )
    await runner.setup()
    cap = connection_cap(limits.max_connections, open_file_limit())
    try:
        await CappedSite(runner, host, port, cap).start()
    except BaseException:
        await runner.cleanup()
        raise
    for address in runner.addresses:
        log.info("serving on http://%s:%s/", *address[:2])
    return runner


async def serve_forever(config: Config, store: Store, port: int | None = None) -> None:
    """``feedhub serve``: serve the output folder until SIGTERM/SIGINT; SIGHUP reloads.
    ``port`` replaces ``server.port``."""
    state = ServiceState(config, with_scheduler=False)
    server = config.file.server
    runner = await start_server(
        make_app(config, store, state), server.host, port or server.port, server
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def reload() -> None:
        state.config = reload_config(state.config) or state.config

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload)
    try:
        await stop.wait()
        log.info("stopping")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await runner.cleanup()
