"""One publish at a time per output folder.

Two publishers (the service's publish child and a `feedhub publish` run by hand, or two
cron jobs) render from different store snapshots: interleaved, an older snapshot's file
can replace a newer one, and one run's stale-page clean-up can delete a page the other
just wrote. So a publish holds an exclusive ``flock`` on a hidden file in the output
folder for its whole run; a second one waits (saying so) and gives up after a timeout.

The kernel drops the lock when its holder dies, even by SIGKILL: no stale lock to clear.
Hidden names are never served (``service/files.py``). This is the SQLite-and-one-host
lock; a store shared by several hosts (PostgreSQL) needs a lock in the store as well.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from feedhub.publish.write import PublishError

LOCK_NAME = ".feedhub-publish.lock"
WAIT_TIMEOUT = 600.0  # seconds; a first publish of a big store takes minutes
POLL = 0.1


@contextmanager
def publish_lock(
    out: Path,
    *,
    timeout: float = WAIT_TIMEOUT,
    on_wait: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Hold the output folder's publish lock; ``on_wait`` is called once if it is taken.

    Raises PublishError (one line naming the folder) if the folder cannot be used or the
    lock is still held after ``timeout`` seconds.
    """
    fd = _open_lock_file(out)
    try:
        if not _try_lock(fd):
            if on_wait is not None:
                on_wait()
            deadline = time.monotonic() + timeout
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    raise PublishError(
                        f"another publish to {out} has been running for more than "
                        f"{timeout:g} s; gave up waiting for it"
                    )
                time.sleep(POLL)
        yield
    finally:
        os.close(fd)  # releases the lock


def _open_lock_file(out: Path) -> int:
    try:
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        out.mkdir(parents=True, exist_ok=True)
        return os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise PublishError(f"cannot write {out}: {exc.strerror or exc}") from exc


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
