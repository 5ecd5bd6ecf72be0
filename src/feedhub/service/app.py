"""``feedhub run``: one process that ingests on schedule, publishes and serves the feeds.

Start-up order matters: the parse process pool is forked before the event loop exists
(forking a process with threads can deadlock the child), then one publish makes the
existing store visible at once, then the HTTP server, then the scheduler.

``--role`` picks the parts one process runs (service/roles.py): ``fetch`` workers need the
parse pool and no publisher, ``publish`` workers the publisher and no pool, ``serve`` is
``feedhub serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from pathlib import Path

from feedhub import __version__
from feedhub.config import Config, ConfigError, load_config
from feedhub.ingest.pool import ParsePool, StageBroken
from feedhub.service.gate import GatedStore
from feedhub.service.logs import setup_logging
from feedhub.service.publisher import kill_children
from feedhub.service.roles import Roles, parse_role, polls_for_changes
from feedhub.service.scheduler import Publisher, Scheduler
from feedhub.service.server import make_app, serve_forever, start_server
from feedhub.service.state import ServiceState
from feedhub.service.workers import close_pool, kill_workers, start_parse_pool
from feedhub.store import Store, StoreError, first_line

log = logging.getLogger("feedhub.service")

STOP_GRACE = 3.0  # seconds in-flight fetches get to finish before they are cancelled
STOP_DEADLINE = 9.0  # hard bound after SIGTERM: the contract is "exit 0 within 10 s"


def run_service(
    config_path: Path,
    *,
    once: bool = False,
    log_format: str = "text",
    verbosity: int = 0,
    sweep_interval: float | None = None,
    role: str = "all",
    port: int | None = None,
) -> int:
    """Run the service until SIGTERM/SIGINT (or one sweep + publish with ``once``).

    ``role`` is ``all`` (everything), ``fetch``, ``publish`` or ``serve``. ``port``
    replaces ``server.port``; a role without ``serve`` then listens there for the probes
    and metrics only (several workers on one machine each get their own).
    Returns the exit code: 0 after a requested stop, 1 on an operational error (store,
    listening address), 2 on an invalid config or usage (problems printed one per line).
    """
    setup_logging(log_format, verbosity)
    try:
        roles = parse_role(role)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    if once and not (roles.fetch or roles.publish):
        print("--once fetches and publishes: it does nothing with --role serve", file=sys.stderr)
        return 2
    try:
        config = load_config(config_path)
    except ConfigError as e:
        for line in e.problems:
            print(line, file=sys.stderr)
        return 2
    publisher = load_publisher() if roles.publish else None
    if roles.publish and publisher is None:
        return 1
    try:
        store = GatedStore.open(config.store_url)
    except StoreError as e:
        log.error("%s", e)
        return 1
    log.info(
        "feedhub %s starting (pid %d, role %s): %s, %d sources, %d topics",
        __version__, os.getpid(), roles.name, config.path, len(config.sources),
        len(config.file.topics),
    )
    if not (roles.fetch or roles.publish):
        return _serve_only(config, store, port)
    pool, broken = _parse_pool(roles.fetch)
    if broken and once:
        store.close()
        return 1
    fetching = roles.fetch and not broken
    # Readiness watches the due-time loop only where it runs.
    state = ServiceState(config, with_scheduler=fetching, broken=broken)
    scheduler = Scheduler(
        state, store, pool, publisher=publisher, sweep_interval=sweep_interval,
        fetch=fetching, poll_publish=polls_for_changes(roles, store.dialect),
    )
    try:
        return asyncio.run(
            _once(scheduler) if once else _serve(scheduler, store, roles, port)
        )
    finally:
        # A publish still running in its child process is abandoned: files are replaced
        # atomically and its store transaction rolls back.
        kill_children()
        close_pool(scheduler.pool)
        store.close()


def _parse_pool(fetch: bool) -> tuple[ParsePool | None, str | None]:
    """The parse workers, or why they cannot start: said once, and the service goes on
    serving and publishing what it has, not ready, instead of failing every source."""
    if not fetch:
        return None, None
    try:
        return start_parse_pool(), None
    except StageBroken as e:
        log.error("%s; not fetching until the install is fixed and the service restarted", e)
        return None, str(e)


def _serve_only(config: Config, store: Store, port: int | None = None) -> int:
    """``--role serve``: what ``feedhub serve`` does (SIGHUP reloads, SIGTERM stops)."""
    server = config.file.server
    try:
        asyncio.run(serve_forever(config, store, port))
    except OSError as e:
        log.error("cannot listen on %s:%d: %s", server.host, port or server.port, e.strerror or e)
        return 1
    finally:
        store.close()
    log.info("stopped")
    return 0


def load_publisher() -> Publisher | None:
    try:
        from feedhub.service.publisher import publish_in_child
    except ImportError as e:
        log.error("cannot load the publish stage: %s", e)
        return None
    return publish_in_child


async def _once(scheduler: Scheduler) -> int:
    """``--once``: one sweep of the due sources and one publish (as the role has them),
    for cron."""
    stop = _stop_event(lambda: scheduler.pool)
    # SIGHUP's default action would kill the process; a reload is harmless here.
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, scheduler.reload)
    try:
        if not scheduler.fetch or await _unless_stopped(scheduler.sweep(), stop):
            await _unless_stopped(scheduler.publish(), stop)
    except Exception as e:  # e.g. the store went away mid-sweep
        log.error("sweep failed: %s", first_line(e))
        return 1
    finally:
        await scheduler.close()
    return 0


async def _serve(scheduler: Scheduler, store: Store, roles: Roles, port: int | None) -> int:
    state = scheduler.state
    stop = _stop_event(lambda: scheduler.pool)
    loop = asyncio.get_running_loop()
    # From the start: SIGHUP's default action would kill the process. Before the scheduler
    # runs a reload only swaps the config, which is all it needs to do.
    loop.add_signal_handler(signal.SIGHUP, scheduler.reload)
    if not await _unless_stopped(scheduler.publish(), stop):  # no-op without the role
        return 0
    runner = None
    if roles.serve or port is not None:
        server = state.config.file.server
        listen = port or server.port
        try:
            app = make_app(state.config, store, state, files=roles.serve)
            runner = await start_server(app, server.host, listen, server)
        except OSError as e:
            log.error("cannot listen on %s:%d: %s", server.host, listen, e.strerror or e)
            return 1
    if roles.fetch:
        await scheduler.count_sources_in_error()
    scheduler.start()
    try:
        await stop.wait()
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        await scheduler.stop(grace=STOP_GRACE)
        if runner is not None:
            await runner.cleanup()
    log.info("stopped")
    return 0


def _stop_event(pool: Callable[[], Executor | None]) -> asyncio.Event:
    """An event set by SIGTERM/SIGINT, which also arms the hard exit deadline (that kills
    the current parse pool's workers, ``pool()``, first)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            return
        log.info("%s received: stopping", sig.name)
        stop.set()
        watchdog = threading.Timer(STOP_DEADLINE, _force_exit, (pool,))
        watchdog.daemon = True  # must not itself keep the process alive
        watchdog.start()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    return stop


def _force_exit(pool: Callable[[], Executor | None]) -> None:
    """Last resort when something (a DNS lookup, a publish thread) outlives the deadline.

    Safe: published files are replaced atomically and store transactions roll back. The
    parse workers are killed first: ``os._exit`` would leave them orphaned (their
    PR_SET_PDEATHSIG is the backstop).
    """
    busy = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    log.warning("still busy %gs after the stop signal (%s): exiting now", STOP_DEADLINE,
                ", ".join(busy))
    kill_children()
    try:
        killed = kill_workers(pool())
    except Exception as e:  # exiting matters more
        log.error("cannot kill the parse workers: %s", e)
    else:
        if killed:
            log.warning("killed %d parse workers: %s", len(killed), ", ".join(map(str, killed)))
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(0)


async def _unless_stopped(work: Awaitable[object], stop: asyncio.Event) -> bool:
    """Await ``work`` unless a stop comes first (then cancel it); True if it completed."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        task.result()
        return True
    task.cancel()
    await asyncio.wait({task}, timeout=STOP_GRACE)
    return False
