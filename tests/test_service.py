"""``feedhub run`` as a real subprocess against feeds served by a local HTTP server.

Every wait is a poll with a deadline; no assertion depends on how fast the machine is.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from feedhub.service.gate import FifoLock, WriteGate
from feedhub.service.logs import setup_logging
from tests.support.httpserver import Reply
from tests.support.service import Feeds, Service, free_port, rss

pytestmark = pytest.mark.slow
T = TypeVar("T")


def write_config(path: Path, port: int, sources: dict[str, str], interval: str = "1s") -> None:
    lines = [
        f"site: {{base_url: 'http://127.0.0.1:{port}/'}}",
        "store: data/feedhub.db",
        "output: {dir: feeds}",
        f"server: {{host: 127.0.0.1, port: {port}}}",
        f"schedule: {{interval: {interval}, jitter: 0%}}",
        "fetch: {timeout: 5s}",
        "sources:",
        *(f"  - {{name: {n}, url: '{u}', topics: [news]}}" for n, u in sources.items()),
        "topics:",
        "  - {name: news, title: News, keywords: [nothing-matches-this]}",
    ]
    path.write_text("\n".join(lines) + "\n")


def test_run_fetches_publishes_serves_reloads_and_stops(
    tmp_path: Path, feeds: Feeds, start: Callable[..., Service]
) -> None:
    port = free_port()
    config = tmp_path / "feedhub.yaml"
    write_config(config, port, {"alpha": feeds.add("alpha", "Alpha one")})
    svc = start(config, port)
    svc.ready()

    # Fetched on schedule: the 1 s interval brings repeated requests.
    svc.wait_for("three fetches of alpha", lambda: feeds.count("alpha") >= 3)

    # A new entry reaches the published file and the served feed.
    feed_file = tmp_path / "feeds" / "news.atom"
    svc.wait_for("first entry published", lambda: feed_file.exists()
                 and b"Alpha one" in feed_file.read_bytes())
    feeds.add("alpha", "Alpha two")
    svc.wait_for("new entry published", lambda: b"Alpha two" in feed_file.read_bytes())
    served = svc.wait_for(
        "new entry served",
        lambda: (r := svc.get("/news.atom")) and r[0] == 200 and b"Alpha two" in r[2] and r,
    )
    assert served[1]["Content-Type"] == "application/atom+xml; charset=utf-8"

    # A conditional GET of the unchanged feed gets 304.
    etag = served[1]["ETag"]
    assert svc.get("/news.atom", {"If-None-Match": etag})[0] == 304  # type: ignore[index]

    # Probes.
    assert svc.get("/healthz")[:3:2] == (200, b"ok\n")  # type: ignore[index]
    assert svc.get("/readyz")[0] == 200  # type: ignore[index]
    metrics = svc.get("/metrics")
    assert metrics is not None and metrics[0] == 200
    assert 'feedhub_fetches_total{outcome="updated",status="200"}' in metrics[2].decode()
    assert svc.metric("feedhub_articles_ingested_total") >= 2

    # SIGHUP adds a source; a broken config on SIGHUP is refused and the service goes on.
    write_config(config, port, {"alpha": feeds.server.url("/alpha.xml"),
                                "beta": feeds.add("beta", "Beta one")})
    svc.proc.send_signal(signal.SIGHUP)
    svc.wait_for("beta fetched after SIGHUP", lambda: feeds.count("beta") >= 1)
    svc.wait_for("beta published", lambda: b"Beta one" in feed_file.read_bytes())
    config.write_text("sources: [oops\n")
    svc.proc.send_signal(signal.SIGHUP)
    svc.wait_for("reload refused", lambda: "config reload failed" in svc.log())
    beta = feeds.count("beta")
    svc.wait_for("beta still fetched", lambda: feeds.count("beta") > beta)

    assert svc.stop() == 0
    assert "Traceback" not in svc.log()


def test_restart_resumes_the_schedule(
    tmp_path: Path, feeds: Feeds, start: Callable[..., Service]
) -> None:
    port = free_port()
    config = tmp_path / "feedhub.yaml"
    write_config(config, port, {"slow": feeds.add("slow", "Slow one")}, interval="1h")
    first = start(config, port, "--log-format", "json")
    first.ready()
    first.wait_for("first fetch", lambda: feeds.count("slow") == 1)
    first.wait_for("fetch logged", lambda: '"source": "slow"' in first.log())
    assert first.stop() == 0
    lines = [json.loads(line) for line in first.log().splitlines() if line.strip()]
    fetch = next(e for e in lines if e.get("source") == "slow")
    assert {"status", "new", "updated", "duration"} <= fetch.keys()
    assert (fetch["status"], fetch["new"]) == (200, 1)

    second = start(config, port)
    second.ready()
    # Wait until the restarted service has swept (twice): a due source would be fetched.
    second.wait_for("two sweeps", lambda: second.metric("feedhub_sweeps_total") >= 2,
                    timeout=60)
    assert feeds.count("slow") == 1
    assert second.stop() == 0


def test_once_sweeps_publishes_and_exits(
    tmp_path: Path, feeds: Feeds, start: Callable[..., Service]
) -> None:
    port = free_port()
    config = tmp_path / "feedhub.yaml"
    write_config(config, port, {"alpha": feeds.add("alpha", "Alpha one")})
    svc = start(config, port, "--once")
    assert svc.proc.wait(60) == 0, svc.log()
    assert feeds.count("alpha") == 1
    assert b"Alpha one" in (tmp_path / "feeds" / "news.atom").read_bytes()
    assert svc.get("/healthz") is None  # --once does not serve


def test_invalid_config_exits_2(tmp_path: Path, start: Callable[..., Service]) -> None:
    config = tmp_path / "feedhub.yaml"
    config.write_text("schedule: {interval: soon}\n")
    svc = start(config, free_port())
    assert svc.proc.wait(60) == 2
    assert f"{config}:1:" in svc.log() and "schedule.interval" in svc.log()


def test_sigterm_cancels_in_flight_fetches(
    tmp_path: Path, feeds: Feeds, start: Callable[..., Service]
) -> None:
    port = free_port()
    config = tmp_path / "feedhub.yaml"
    feeds.server.route("/hang.xml", Reply(body=rss("hang", ["x"]), delay=3600))
    write_config(config, port, {"hang": feeds.server.url("/hang.xml")})
    config.write_text(config.read_text().replace("timeout: 5s", "timeout: 10m"))
    svc = start(config, port)
    svc.wait_for("the fetch in flight", lambda: feeds.server.count("/hang.xml") >= 1)
    assert svc.stop() == 0
    assert "Traceback" not in svc.log()


def test_address_in_use_exits_1(
    tmp_path: Path, feeds: Feeds, start: Callable[..., Service]
) -> None:
    config = tmp_path / "feedhub.yaml"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        write_config(config, port, {"alpha": feeds.add("alpha", "Alpha one")})
        svc = start(config, port)
        assert svc.proc.wait(60) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in svc.log()


def test_each_source_on_its_own_clock(
    tmp_path: Path, feeds: Feeds, start: Callable[..., Service]
) -> None:
    """A source due every second is fetched about every second — never faster, and never
    held back by a source that hangs (which is never fetched twice at once)."""
    port = free_port()
    config = tmp_path / "feedhub.yaml"
    feeds.server.route("/hang.xml", Reply(body=rss("hang", ["x"]), delay=3600))
    write_config(config, port, {"fast": feeds.add("fast", "Fast one"),
                                "hang": feeds.server.url("/hang.xml")})
    config.write_text(config.read_text().replace("timeout: 5s", "timeout: 10m"))
    svc = start(config, port)
    svc.ready()
    svc.wait_for("the hanging fetch in flight", lambda: feeds.server.count("/hang.xml") >= 1)
    t0, c0 = time.monotonic(), feeds.count("fast")
    # The fast source keeps being fetched while the other one hangs.
    svc.wait_for("fast fetched on while hang hangs", lambda: feeds.count("fast") >= c0 + 6)
    t1, c1 = time.monotonic(), feeds.count("fast")
    # Never faster than its interval (1 s, no jitter): an upper bound holds on any machine.
    assert c1 - c0 <= (t1 - t0) / 1.0 + 2
    assert feeds.server.count("/hang.xml") == 1  # in flight: not started again
    assert svc.stop() == 0
    assert "Traceback" not in svc.log()


def test_killed_service_leaves_no_parse_workers(
    tmp_path: Path, feeds: Feeds, start: Callable[..., Service]
) -> None:
    """Parse workers die with the service even when it gets no chance to stop them."""
    port = free_port()
    config = tmp_path / "feedhub.yaml"
    write_config(config, port, {"alpha": feeds.add("alpha", "Alpha one")})
    svc = start(config, port)
    svc.ready()
    workers = children(svc.proc.pid)
    assert workers, "expected parse worker processes"
    svc.proc.send_signal(signal.SIGKILL)
    svc.proc.wait(10)
    deadline = time.monotonic() + 10
    while (left := [p for p in workers if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"parse workers outlived the killed service: {left}"


def children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{d}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d))
    return out


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_fifo_lock_hands_over_in_order() -> None:
    lock = FifoLock()
    order: list[int] = []
    lock.__enter__()
    with lock:  # re-entrant for its holder
        pass
    threads = []
    for i in range(5):
        t = threading.Thread(target=lambda i=i: (lock.__enter__(), order.append(i),
                                                 lock.__exit__(None, None, None)))
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 10
        while lock.waiting < i + 1 and time.monotonic() < deadline:
            time.sleep(0.01)  # queue them one after another
    assert lock.waiting == 5
    lock.__exit__(None, None, None)
    for t in threads:
        t.join(10)
    assert order == [0, 1, 2, 3, 4]


def test_scheduler_warnings_are_shown() -> None:
    try:
        setup_logging("text", 0)
        assert logging.getLogger("apscheduler").getEffectiveLevel() == logging.WARNING
        setup_logging("text", 2)
        assert logging.getLogger("apscheduler").getEffectiveLevel() == logging.DEBUG
    finally:
        for h in list(logging.getLogger().handlers):
            logging.getLogger().removeHandler(h)


def test_background_writes_give_way_to_foreground() -> None:
    """Publishing's writes wait while ingest keeps writing (gaps shorter than yield_for)."""
    gate = WriteGate(yield_for=1.0, max_defer=60)
    order: list[str] = []
    first = threading.Event()

    def foreground() -> None:
        for _ in range(5):
            with gate.hold():
                order.append("f")
                first.set()
            time.sleep(0.01)

    def background() -> None:
        first.wait(10)
        with gate.background(), gate.hold():
            order.append("b")

    threads = [threading.Thread(target=foreground), threading.Thread(target=background)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert order == ["f"] * 5 + ["b"]


def test_fetch_and_publish_workers_answer_probes_and_metrics_on_their_own_port(
    tmp_path: Path, feeds: Feeds, start: Callable[..., Service]
) -> None:
    shared = free_port()  # server.port: nobody may listen there
    config = tmp_path / "feedhub.yaml"
    write_config(config, shared, {"alpha": feeds.add("alpha", "Alpha one")})
    fetcher = start(config, port := free_port(), "--role", "fetch", "--port", str(port))
    fetcher.ready()  # it creates the store; the publisher then opens it
    publisher = start(config, port := free_port(), "--role", "publish", "--port", str(port))
    publisher.ready()
    for worker in (fetcher, publisher):
        assert worker.get("/healthz")[0] == 200  # type: ignore[index]
    fetcher.wait_for("a fetch counted", lambda: fetcher.metric(
        'feedhub_fetches_total{outcome="updated",status="200"}') >= 1)
    feed_file = tmp_path / "feeds" / "news.atom"
    publisher.wait_for("published", lambda: feed_file.exists())
    publisher.wait_for("a publish timed", lambda: publisher.metric(
        "feedhub_publish_duration_seconds_count") >= 1)
    assert fetcher.get("/news.atom")[0] == 404  # type: ignore[index]  # serves no files
    assert _nothing_on(shared)
    assert fetcher.stop() == 0 and publisher.stop() == 0


def _nothing_on(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0
