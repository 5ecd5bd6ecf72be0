"""Publishing in a child process (``feedhub publish --background --json``).

Publishing is CPU work in Python (related lists, rendering). In a thread of the service
it shares the GIL with the event loop: a soak run with 1,000 sources showed fetches
starting up to ~20 s after their due time while the first publish of ~10k articles ran.
A child process uses the other core; its store writes are short transactions with pauses
(``--background``), so the service's fetch writes get their turns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

from feedhub.config import Config
from feedhub.process import PARENT_ENV
from feedhub.publish.run import PublishReport
from feedhub.store import Store

_lock = threading.Lock()
_children: set[subprocess.Popen[bytes]] = set()


def publish_in_child(config: Config, store: Store) -> PublishReport:
    """Run one publish of ``config`` in a child process; its report, or raise.

    The child gets the text ``config`` was validated from on its stdin, not the file:
    the service runs on the config it loaded or last accepted on SIGHUP, and the file may
    since hold a rejected edit (every publish failed on it) or one not yet reloaded.
    """
    cmd = [sys.executable, "-m", "feedhub", "-c", str(config.path), "-q", "publish",
           "--background", "--json"]
    given = config.text.encode() if config.text is not None else None
    if given is not None:
        cmd.append("--config-stdin")
    # PARENT_ENV: the child dies with the service (a SIGKILL or the OOM killer must not
    # leave a publisher running beside the next service's).
    env = {**os.environ, "PYTHONUNBUFFERED": "1", PARENT_ENV: str(os.getpid())}
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE if given is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    with _lock:
        _children.add(proc)
    try:
        out, err = proc.communicate(given)
    finally:
        with _lock:
            _children.discard(proc)
    if proc.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"publish exited with {proc.returncode}")
    data = json.loads(out.decode().strip().splitlines()[-1])
    return PublishReport(
        topics=data["topics"], written=data["written"], unchanged=data["unchanged"],
        changed_paths=tuple(data["changed_paths"]), duration=data["duration"],
        warnings=tuple(data["warnings"]),
    )


def kill_children() -> list[int]:
    """Kill running publish children (the service is exiting); their pids."""
    with _lock:
        procs = list(_children)
    for p in procs:
        if p.poll() is None:
            p.kill()
    return [p.pid for p in procs]
