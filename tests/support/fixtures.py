"""Fixtures shared by the tests that run ``feedhub run`` as a subprocess (a pytest plugin
that ``tests/conftest.py`` loads)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.httpserver import HttpServer
from tests.support.service import Feeds, Service


@pytest.fixture
def feeds() -> Iterator[Feeds]:
    """Feeds a test can change while the service runs, on a real HTTP server."""
    with HttpServer() as server:
        yield Feeds(server)


@pytest.fixture
def start() -> Iterator[Callable[..., Service]]:
    """Start ``feedhub run`` on a config and port; every service started is killed at the end."""
    started: list[Service] = []

    def _start(config: Path, port: int, *run_args: str) -> Service:
        s = Service(config, port, *run_args)
        started.append(s)
        return s

    yield _start
    for s in started:
        s.kill()
