"""A real ``feedhub run`` subprocess for tests: start it, poll it over HTTP, stop it."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from tests.conftest import REPO
from tests.support.httpserver import HttpServer, Reply, SeenRequest

T = TypeVar("T")
STOP_TIMEOUT = 15.0  # generous bound on SIGTERM → exit; the service aims for < 10 s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_command(config: Path, *run_args: str) -> list[str]:
    """``python -m feedhub -c CONFIG run ARGS``: exactly what an operator runs."""
    return [sys.executable, "-m", "feedhub", "-c", str(config), "run", *run_args]


def wait_for(what: str, check: Callable[[], T | None], services: list[Service],
             timeout: float = 90.0) -> T:
    """Poll ``check`` until it returns something truthy; fail with the services' logs if one
    of them exits or time runs out (a hang guard, not a speed limit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        for svc in services:
            if svc.proc.poll() is not None:
                pytest.fail(f"service exited ({svc.proc.returncode}) waiting for {what}:\n"
                            f"{svc.log()}")
        time.sleep(0.1)
    # Several busy workers log a lot: their tails say enough.
    logs = "\n".join(svc.log()[-3000:] if len(services) > 1 else svc.log() for svc in services)
    pytest.fail(f"timed out waiting for {what}:\n{logs}")


class Service:
    """One ``feedhub run`` subprocess, its log, and HTTP requests to it."""

    def __init__(
        self, config: Path, port: int, *run_args: str, path: tuple[Path, ...] = ()
    ) -> None:
        """``path``: folders searched for modules after src/ and before site-packages."""
        self.config = config
        self.port = port
        self.log_path = config.parent / f"service-{time.monotonic_ns()}.log"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, (REPO / "src", *path)))}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                service_command(config, *run_args), cwd=config.parent, env=env,
                stdout=log, stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes] | None:
        """(status, headers, body), or None while nothing listens yet."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.headers), resp.read()
        except OSError:
            return None
        finally:
            conn.close()

    def wait_for(self, what: str, check: Callable[[], T | None], timeout: float = 90.0) -> T:
        """Poll ``check`` until it returns something truthy; fail with the log otherwise."""
        return wait_for(what, check, [self], timeout)

    def ready(self) -> None:
        self.wait_for("/readyz", lambda: (r := self.get("/readyz")) is not None and r[0] == 200)

    def metric(self, name: str) -> float:
        r = self.get("/metrics")
        if r is None or r[0] != 200:
            return 0.0
        for line in r[2].decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no exit within {STOP_TIMEOUT}s of SIGTERM:\n{self.log()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def rss(title: str, items: list[str], body: Callable[[str], str] = "{} in full.".format) -> bytes:
    """An RSS 2.0 feed of ``items`` (their titles); ``body`` makes each item's description."""
    entries = "".join(
        f"<item><title>{t}</title><link>https://example.org/{title}/{i}</link>"
        f"<guid>https://example.org/{title}/{i}</guid>"
        f"<pubDate>Mon, 0{1 + i % 9} Jan 2024 10:00:00 GMT</pubDate>"
        f"<description>{body(t)}</description></item>"
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
