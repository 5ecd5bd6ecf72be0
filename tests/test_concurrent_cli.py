"""Commands run beside a busy ``feedhub run``: they wait their turn or fail in one line.

The store is SQLite (one writer at a time: the others wait on its busy timeout) and the
output folder has one publisher at a time (``publish/lock.py``). Whatever the interleaving,
no command may print "database is locked" or a traceback, and every published file must
parse at every moment.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from feedhub.publish.lock import LOCK_NAME, WAIT_TIMEOUT, publish_lock
from feedhub.publish.write import PublishError
from tests.conftest import REPO, run_cli
from tests.support.httpserver import HttpServer, Reply, SeenRequest
from tests.support.published import check_output
from tests.support.service import Service, free_port

pytestmark = pytest.mark.slow

SOURCES = 12
STEP = 3.0  # seconds: every feed gains items at each step, then stays quiet (a publish)
BAD = ("database is locked", "Traceback")
# A hang guard, not a speed limit: a command may wait up to the publish lock's own timeout
# (publish/lock.py) behind the service's publishes; on a busy machine that took over 180 s.
COMMAND_TIMEOUT = WAIT_TIMEOUT + 300


class GrowingFeeds:
    """Feeds that gain two items every STEP seconds: bursts of ingest, then a publish."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.t0 = time.monotonic()
        self.base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
        for i in range(SOURCES):
            server.route(f"/s{i}.xml", lambda req, i=i: self.reply(i, req))

    def reply(self, i: int, _: SeenRequest) -> Reply:
        n = 2 + 2 * int((time.monotonic() - self.t0) / STEP)
        items = "".join(
            f"<item><title>Source {i} story {k}</title>"
            f"<link>https://s{i}.example/{k}</link><guid>https://s{i}.example/{k}</guid>"
            f"<pubDate>{format_datetime(self.base + timedelta(minutes=k))}</pubDate>"
            f"<description>Source {i} reports story {k}: {' '.join(['words'] * 40)} {k}"
            f"</description></item>"
            for k in range(n)
        )
        body = (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>s{i}</title>'
            f"<link>https://s{i}.example/</link>{items}</channel></rss>"
        ).encode()
        return Reply(body=body, headers={"Content-Type": "application/rss+xml"})


@pytest.fixture
def busy_service(tmp_path: Path) -> Iterator[tuple[Service, Path]]:
    with HttpServer() as server:
        GrowingFeeds(server)
        port = free_port()
        config = tmp_path / "feedhub.yaml"
        sources = [f"  - {{name: s{i}, url: '{server.url(f'/s{i}.xml')}'}}" for i in range(SOURCES)]
        config.write_text(
            "\n".join(
                [
                    f"site: {{base_url: 'http://127.0.0.1:{port}/'}}",
                    "store: data/feedhub.db",
                    "output: {dir: feeds}",
                    f"server: {{host: 127.0.0.1, port: {port}}}",
                    "schedule: {interval: 1s, jitter: 0%}",
                    "sources:",
                    *sources,
                    "topics:",
                    "  - {name: news, title: News, keywords: [story]}",
                    "  - {name: even, title: Even, keywords: ['2', '4', '6', '8']}",
                ]
            )
            + "\n"
        )
        svc = Service(config, port)
        try:
            svc.ready()
            yield svc, config
        finally:
            svc.kill()


def feedhub(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("-c", str(config), *args, cwd=config.parent, timeout=COMMAND_TIMEOUT)


def test_fetch_and_publish_beside_a_busy_service(
    busy_service: tuple[Service, Path],
) -> None:
    svc, config = busy_service
    out = config.parent / "feeds"
    stop = threading.Event()
    torn: list[str] = []

    def watch_output() -> None:  # every file parses at every moment, not only at the end
        while not stop.is_set():
            try:
                check_output(out)
            except (AssertionError, SyntaxError, UnicodeDecodeError) as e:
                torn.append(repr(e))
            except FileNotFoundError:
                pass  # a stale page removed between listing and reading
            time.sleep(0.05)

    watcher = threading.Thread(target=watch_output, daemon=True)
    watcher.start()
    commands = [("fetch",), ("publish",), ("fetch", "--publish"), ("publish",)] * 2
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            results = list(pool.map(lambda args: (args, feedhub(config, *args)), commands))
    finally:
        stop.set()
        watcher.join(10)

    for args, r in results:
        shown = f"feedhub {' '.join(args)} → {r.returncode}:\n{r.stdout}{r.stderr}"
        assert not any(b in r.stdout + r.stderr for b in BAD), shown
        if r.returncode != 0:  # a clear failure: one line (after the notice of a wait)
            lines = r.stderr.strip().splitlines()
            notices = [ln for ln in lines[:-1] if ln.startswith("waiting for another publish")]
            assert r.returncode == 1 and len(notices) == len(lines) - 1, shown
            assert lines[-1].startswith("feedhub: error: "), shown
    assert sum(r.returncode == 0 for _, r in results) >= len(results) // 2, results
    assert not torn, torn[:3]
    files, _ = check_output(out)  # (temp files may exist: the service may be writing)
    assert files >= 4
    svc.wait_for("the service still answers", lambda: (r := svc.get("/readyz")) and r[0] == 200)
    assert not any(b in svc.log() for b in BAD), svc.log()[-3000:]
    waited = sum("waiting for another publish" in r.stderr for _, r in results)
    print(f"\n{len(results)} commands beside the service; {waited} waited for a publish")


def _hold_lock(out: Path) -> subprocess.Popen[str]:
    """Another process holding the output folder's publish lock until its stdin closes."""
    out.mkdir(parents=True, exist_ok=True)
    code = (
        "import fcntl, os, sys\n"
        f"fd = os.open({str(out / LOCK_NAME)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    return holder


def _release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(10)


def test_a_second_publish_waits_for_the_first(tmp_path: Path) -> None:
    config = tmp_path / "feedhub.yaml"
    config.write_text(
        "store: data/feedhub.db\noutput: {dir: feeds}\ntopics: [{name: news, title: News}]\n"
    )
    holder = _hold_lock(tmp_path / "feeds")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "feedhub", "-c", str(config), "publish"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Its first line says it waits (read as it comes: no sleep that a busy machine
        # could outlast before the command even reached the lock).
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert first == f"waiting for another publish to {tmp_path / 'feeds'} to finish…\n"
        assert proc.poll() is None, "publish went ahead while another one held the lock"
        assert not (tmp_path / "feeds" / "news.atom").exists()
    finally:
        _release(holder)
    _, rest = proc.communicate(timeout=COMMAND_TIMEOUT)
    assert proc.returncode == 0, rest
    assert rest.strip() == ""
    check_output(tmp_path / "feeds")
    assert (tmp_path / "feeds" / "news.atom").exists()


def test_publish_lock_gives_up_after_its_timeout_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "feeds"
    holder = _hold_lock(out)
    waited: list[bool] = []
    try:
        with (
            pytest.raises(PublishError) as info,
            publish_lock(out, timeout=0.3, on_wait=lambda: waited.append(True)),
        ):
            pass
    finally:
        _release(holder)
    assert waited == [True]
    assert str(info.value) == (
        f"another publish to {out} has been running for more than 0.3 s; gave up waiting for it"
    )
    with publish_lock(out, timeout=0.3):  # free again: taken at once
        fd = os.open(out / LOCK_NAME, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
