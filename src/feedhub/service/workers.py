"""The service's parse worker processes: started before any thread, never left behind.

Workers set ``PR_SET_PDEATHSIG`` so the kernel kills them when the service dies without
shutting its pool down (SIGKILL, the OOM killer, the forced exit after a stop deadline);
``kill_workers`` is the explicit path the forced exit takes first.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from multiprocessing.process import BaseProcess

from feedhub.ingest.worker import load_parse_stage

log = logging.getLogger("feedhub.service")

POOL_JOIN = 2.0  # seconds parse workers get to exit before they are killed
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_ENV = "FEEDHUB_DIE_WITH_PARENT"  # set for the publish child: the service's pid
BACKGROUND_NICE = 10  # parse workers and the publish child: see yield_cpu


def worker_init(parent: int | None = None) -> None:
    """Runs first in each worker: get SIGKILL when the service goes away.

    The death signal fires when the thread that forked the worker exits: the main thread
    for the start-up pool (it lives as long as the process), the forkserver for a
    replacement pool (it exits when the service does).
    """
    die_with_parent(parent)
    yield_cpu()


def yield_cpu() -> None:
    """Run this process at a lower CPU priority than the service's main process.

    Parse workers and the publish child are throughput work; the main process keeps the
    schedule (its event loop starts fetches on time) and does the store writes that end
    each fetch. On 2 cores, at equal priority, the first minute of the soak benchmark
    (1,000 new sources) had 762 refetches over 5 s late; at nice 10, 403 (one run each).
    """
    with contextlib.suppress(OSError):
        os.nice(BACKGROUND_NICE)


def die_with_parent(parent: int | None = None) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux); exit now if
    ``parent`` is given and already gone.

    Also used by the service's publish child (``feedhub publish --background`` with
    PARENT_ENV set): a service killed mid-publish must not leave a publisher running.
    Its death signal fires when the thread that started it exits — the thread waits for
    the child, so that is when the service dies.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the explicit kill still applies
        return
    if parent is not None and os.getppid() != parent:
        os._exit(0)  # the service died before the death signal was armed


def new_pool(workers: int | None = None, *, method: str = "fork") -> ProcessPoolExecutor:
    """A parse pool whose workers die with the service (see ``worker_init``)."""
    load_parse_stage()  # once here, not once per worker
    n = workers or max(1, min(os.cpu_count() or 1, 8))
    # The forkserver's children have the forkserver, not us, as parent: no parent check.
    parent = os.getpid() if method == "fork" else None
    return ProcessPoolExecutor(
        max_workers=n, mp_context=multiprocessing.get_context(method),
        initializer=worker_init, initargs=(parent,),
    )


def start_parse_pool() -> Executor:
    """The parse process pool with every worker forked now, while only one thread exists.

    Workers ignore SIGINT/SIGHUP: a Ctrl-C or hangup sent to the whole process group is
    the main process's to handle; it shuts the workers down itself.
    """
    ignored = (signal.SIGINT, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in ignored}
    try:
        pool = new_pool()
        # With the fork start method the executor forks all workers on the first submit,
        # before it starts its manager thread.
        pool.submit(int).result()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return pool


def worker_processes(pool: Executor | None) -> list[BaseProcess]:
    # Private, but the only handle to the workers: shutdown() alone has no time bound.
    return list((getattr(pool, "_processes", None) or {}).values())


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
    if isinstance(pool, ProcessPoolExecutor):
        pool.shutdown(wait=True)  # workers are gone: this only joins the manager thread
