"""Publishing in a child process (``feedhub publish --background --json``).

Publishing is CPU work in Python (related lists, rendering). In a thread of the service
it shares the GIL with the event loop: a soak run with 1,000 sources showed fetches
starting up to ~20 s after their due time while the first publish of ~10k articles ran.
A child process uses the other core; its store writes are short transactions with pauses
(``--background``), so the service's fetch writes get their turns.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from typing import IO

from feedhub.config import Config
from feedhub.process import PARENT_ENV, PROGRESS_PREFIX
from feedhub.publish.run import PublishReport
from feedhub.store import Store

log = logging.getLogger("feedhub.service")
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
    errors: list[str] = []
    reader = threading.Thread(target=_read_stderr, args=(proc.stderr, errors), daemon=True)
    reader.start()
    try:
        out = _talk(proc, given)
    finally:
        reader.join()
        with _lock:
            _children.discard(proc)
    if proc.returncode != 0:
        raise RuntimeError(errors[-1] if errors else f"publish exited with {proc.returncode}")
    data = json.loads(out.decode().strip().splitlines()[-1])
    return PublishReport(
        topics=data["topics"], written=data["written"], unchanged=data["unchanged"],
        changed_paths=tuple(data["changed_paths"]), duration=data["duration"],
        warnings=tuple(data["warnings"]), rendered=tuple(data.get("rendered", ())),
    )


def _talk(proc: subprocess.Popen[bytes], given: bytes | None) -> bytes:
    """Hand the child its config, read its report, wait for it (stderr is another
    thread's: `_read_stderr`). The child reads its stdin whole before anything else."""
    assert proc.stdout is not None
    if proc.stdin is not None:
        try:
            proc.stdin.write(given or b"")
            proc.stdin.close()
        except BrokenPipeError:
            pass  # it died first: its exit code and stderr say why
    out = proc.stdout.read()
    proc.wait()
    return out


def _read_stderr(stream: IO[bytes] | None, errors: list[str]) -> None:
    """Log the child's progress lines as they come (a line per related batch, at most one
    every few seconds: issue 17's first publish of a large store runs for minutes); keep
    the other lines, whose last one is the error when the child fails."""
    assert stream is not None
    for raw in stream:
        line = raw.decode(errors="replace").strip()
        if line.startswith(PROGRESS_PREFIX):
            log.info("publishing: related %s", line[len(PROGRESS_PREFIX):])
        elif line:
            errors.append(line)


def kill_children() -> list[int]:
    """Kill running publish children (the service is exiting); their pids."""
    with _lock:
        procs = list(_children)
    for p in procs:
        if p.poll() is None:
            p.kill()
    return [p.pid for p in procs]
