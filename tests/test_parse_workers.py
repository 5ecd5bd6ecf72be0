"""The parse workers fail as one thing, not as N sources (issue 12).

A broken install (the parse stage cannot import feedparser; a plain install once lacked numpy,
which the service itself now imports for Related News, so numpy no longer breaks only parsing)
is one line and exit 1 from ``fetch``, one log line and a not-ready ``/readyz`` from
``run``; nothing is stored as failed. A worker that dies mid-run is replaced, and only the
job that kills it fails. Real processes throughout: the missing module is a real package
on the path that fails to import, and the dying worker really exits.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

import pytest

from feedhub.ingest.pool import ParsePool, WorkerDied
from tests.conftest import REPO, run_cli
from tests.support.service import Service, free_port

pytestmark = pytest.mark.slow

SAMPLE = REPO / "config" / "samples" / "wire.xml"


def _broken_feedparser(tmp: Path) -> Path:
    """A folder that shadows feedparser (which only the parse stage imports) with a package
    that does not import, as when an install lacks it."""
    shadow = tmp / "shadow"
    (shadow / "feedparser").mkdir(parents=True)
    (shadow / "feedparser" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'feedparser'\", name='feedparser')\n"
    )
    return shadow


def _config(tmp: Path, *extra: str) -> Path:
    path = tmp / "feedhub.yaml"
    path.write_text(
        "store: data/feedhub.db\n"
        "output: {dir: out}\n"
        "schedule: {interval: 1h, jitter: 0%}\n"
        "sources:\n"
        f"  - {{name: wire, url: '{SAMPLE}'}}\n"
        f"  - {{name: wire-copy, url: '{SAMPLE}'}}\n" + "".join(extra)
    )
    return path


def _articles(tmp: Path) -> int:
    with sqlite3.connect(tmp / "data" / "feedhub.db") as db:
        return int(db.execute("SELECT count(*) FROM articles").fetchone()[0])


@pytest.mark.parametrize("jobs", ["2", "1"])
def test_fetch_with_a_broken_parse_stage_says_so_once(tmp_path: Path, jobs: str) -> None:
    config = _config(tmp_path)
    shadow = _broken_feedparser(tmp_path)
    done = run_cli("-c", str(config), "fetch", "-j", jobs,
                   env={"PYTHONPATH": str(shadow)})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == ["feedhub: error: parse workers failed to start: No module named 'feedparser'"]
    # Nothing was stored as failed: with the install fixed, both sources ingest at once.
    assert _articles(tmp_path) == 0
    fixed = run_cli("-c", str(config), "fetch", "-j", jobs)
    assert fixed.returncode == 0, fixed.stderr
    assert "0 failed" in fixed.stdout
    assert _articles(tmp_path) > 0


def test_the_service_with_a_broken_parse_stage_logs_once_and_is_not_ready(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    port = free_port()
    service = Service(config, port, "--port", str(port), path=(_broken_feedparser(tmp_path),))
    try:
        status = service.wait_for(
            "/readyz", lambda: (r := service.get("/readyz")) is not None and r
        )
        assert status[0] == 503
        assert status[2] == b"parse workers failed to start: No module named 'feedparser'\n"
        assert service.get("/healthz") is not None  # alive, serving
    finally:
        assert service.stop() == 0
    log = service.log()
    assert "Traceback" not in log
    assert log.count("No module named 'feedparser'") == 1, log


def _job(name: str, flag: str) -> str:
    """A parse job stand-in (module level: it pickles). ``poison`` kills its worker; the
    others wait until it has started, so they are in flight when the pool breaks."""
    if name == "poison":
        Path(flag).touch()
        os._exit(1)
    deadline = time.monotonic() + 30
    while not Path(flag).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return name.upper()


def test_a_dying_worker_fails_only_its_own_job(tmp_path: Path) -> None:
    flag = str(tmp_path / "poison-started")
    pool = ParsePool(2)

    async def main() -> list[object]:
        jobs = [pool.run(_job, name, flag) for name in ("a", "poison", "b", "c")]
        return await asyncio.gather(*jobs, return_exceptions=True)

    try:
        a, poison, b, c = asyncio.run(main())
        assert (a, b, c) == ("A", "B", "C")
        assert isinstance(poison, WorkerDied)
        # The pool works on after: new workers replaced the broken ones.
        assert asyncio.run(pool.run(_job, "d", flag)) == "D"
    finally:
        pool.shutdown()
