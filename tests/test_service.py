"""``feedhub run`` as a real subprocess against feeds served by a local HTTP server.

Every wait is a poll with a deadline; no assertion depends on how fast the machine is.
"""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.support.httpserver import HttpServer, Reply, SeenRequest
from tests.support.service import Service, free_port

pytestmark = pytest.mark.slow
T = TypeVar("T")


def rss(title: str, items: list[str]) -> bytes:
    entries = "".join(
        f"<item><title>{t}</title><link>https://example.org/{title}/{i}</link>"
        f"<guid>https://example.org/{title}/{i}</guid>"
        f"<pubDate>Mon, 0{1 + i % 9} Jan 2024 10:00:00 GMT</pubDate>"
        f"<description>{t} in full.</description></item>"
        for i, t in enumerate(items)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://example.org/{title}</link>{entries}</channel></rss>"
    ).encode()


class Feeds:
    """Feeds on the test HTTP server whose items a test can change while the service runs."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.items: dict[str, list[str]] = {}

    def add(self, name: str, *items: str) -> str:
        self.items.setdefault(name, []).extend(items)

        def reply(_: SeenRequest) -> Reply:
            body = rss(name, self.items[name])
            return Reply(body=body, headers={"Content-Type": "application/rss+xml"})

        self.server.route(f"/{name}.xml", reply)
        return self.server.url(f"/{name}.xml")

    def count(self, name: str) -> int:
        return self.server.count(f"/{name}.xml")


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


@pytest.fixture
def feeds() -> Iterator[Feeds]:
    with HttpServer() as server:
        yield Feeds(server)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def _start(config: Path, port: int, *run_args: str) -> Service:
        s = Service(config, port, *run_args)
        started.append(s)
        return s

    yield _start
    for s in started:
        s.kill()


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
