"""Process-level helpers shared by the parse workers and the service's publish child.

Background processes die with the process that started them and run at a lower CPU
priority than it: the service's main process keeps the schedule and does the store writes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_ENV = "FEEDHUB_DIE_WITH_PARENT"  # set for the publish child: the service's pid
# A publish child's progress lines on stderr start so; the service logs them (issue 17).
PROGRESS_PREFIX = "progress "
BACKGROUND_NICE = 10  # parse workers of the service and its publish child: see yield_cpu


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

    A service killed (SIGKILL, the OOM killer, the forced exit after a stop deadline) must
    not leave parse workers or a publisher running. The death signal fires when the thread
    that started this process exits: the main thread for a pool forked at start-up, the
    forkserver for a replacement pool, the waiting thread for the publish child.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the explicit kill still applies
        return
    if parent is not None and os.getppid() != parent:
        os._exit(0)  # the parent died before the death signal was armed
