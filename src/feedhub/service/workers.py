"""The service's parse worker processes: started before any thread, never left behind.

The pool is ``ingest.pool.ParsePool`` with ``background`` on: workers set
``PR_SET_PDEATHSIG`` (``feedhub.process``) so the kernel kills them when the service dies
without shutting its pool down; ``kill_workers`` is the explicit path the forced exit takes
first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from concurrent.futures import Executor
from multiprocessing.process import BaseProcess

from feedhub.ingest.pool import ParsePool

log = logging.getLogger("feedhub.service")

POOL_JOIN = 2.0  # seconds parse workers get to exit before they are killed


def start_parse_pool(workers: int | None = None) -> ParsePool:
    """The parse process pool with every worker forked now, while only one thread exists.

    Workers ignore SIGINT/SIGHUP: a Ctrl-C or hangup sent to the whole process group is
    the main process's to handle; it shuts the workers down itself. Raises ``StageBroken``
    when the parse stage does not load (loaded here once, not once per worker).
    """
    ignored = (signal.SIGINT, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in ignored}
    try:
        pool = ParsePool(workers, background=True, preload=True)
        pool.start().submit(int).result()  # every worker forked and started
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return pool


def worker_processes(pool: Executor | None) -> list[BaseProcess]:
    """The live worker processes of a ParsePool (none for anything else)."""
    return pool.processes() if isinstance(pool, ParsePool) else []


def kill_workers(pool: Executor | None) -> list[int]:
    """SIGKILL every live worker of ``pool`` now (safe from any thread); their pids."""
    killed = []
    for p in worker_processes(pool):
        try:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signal.SIGKILL)
                killed.append(p.pid)
        except (OSError, ValueError, AssertionError):
            pass  # already gone or already closed
    deadline = time.monotonic() + 1.0
    for p in worker_processes(pool):
        with contextlib.suppress(Exception):
            p.join(max(0.0, deadline - time.monotonic()))  # reap: no zombies left behind
    return killed


def close_pool(pool: Executor | None, timeout: float = POOL_JOIN) -> None:
    """Shut the parse pool down without waiting on a parse stuck on a hostile feed."""
    if pool is None:
        return
    procs = worker_processes(pool)
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    stuck = [p.pid for p in procs if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.kill()
    if stuck:
        log.warning("killed %d parse workers that did not exit within %gs: %s",
                    len(stuck), timeout, ", ".join(map(str, stuck)))
    pool.shutdown(wait=True)  # workers are gone: this only joins the manager thread
