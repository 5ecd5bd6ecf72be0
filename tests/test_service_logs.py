"""The service's log guards: repeated lines are held back, malformed requests are one
short INFO line, and the connection cap stays below the open-file limit (pure parts; the
behaviour against a running service is in test_probe_faults.py)."""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import LineTooLong

from feedhub.service.connections import (
    ACCEPT_BATCH,
    FD_RESERVE,
    ClientErrorFilter,
    connection_cap,
)
from feedhub.service.logs import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc else None
    return logging.LogRecord("x", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_repeat_filter_holds_back_a_flood_and_says_how_much() -> None:
    clock = Clock()
    f = RepeatFilter(burst=3, window=60, clock=clock)
    flood = (record("accept failed: %s", "EMFILE") for _ in range(1000))
    passed = [r for r in flood if f.filter(r)]
    assert len(passed) == 3 and "held back" in passed[-1].getMessage()
    assert f.filter(record("something else"))  # other lines are not affected
    routine = [record("alpha: unchanged") for _ in range(10)]
    for r in routine:
        r.levelno = logging.INFO
    assert all(f.filter(r) for r in routine)  # one per fetch by design: never held back
    clock.now = 61
    again = record("accept failed: %s", "EMFILE")
    assert f.filter(again) and "997 more like it" in again.getMessage()


def test_client_errors_become_one_short_info_line_a_minute() -> None:
    clock = Clock()
    f = ClientErrorFilter(every=60, clock=clock)
    too_long = LineTooLong("x" * 9000, "8190")
    first = record("Error handling request from %s", "10.0.0.1", exc=too_long)
    assert f.filter(first)
    assert first.levelno == logging.INFO and first.exc_info is None
    assert first.getMessage().startswith("bad request from 10.0.0.1: ")
    assert len(first.getMessage()) < 200
    for _ in range(50):
        assert not f.filter(record("Error handling request from %s", "10.0.0.2",
                                   exc=LineTooLong("y", "8190")))
    clock.now = 60
    later = record("Error handling request from %s", "10.0.0.3", exc=LineTooLong("z", "8190"))
    assert f.filter(later) and "50 more since" in later.getMessage()
    # A server error keeps its level and traceback.
    bug = record("Error handling request from %s", "10.0.0.4", exc=RuntimeError("bug"))
    assert f.filter(bug) and bug.levelno == logging.ERROR and bug.exc_info is not None


def test_connection_cap_stays_below_the_open_file_limit() -> None:
    # A reserve for the rest of the service, plus one accept batch (asyncio accepts that
    # many before the cap is looked at).
    assert connection_cap(0, 256) == 256 - FD_RESERVE - ACCEPT_BATCH
    assert connection_cap(0, 1024) == 1024 - 256 - ACCEPT_BATCH
    assert connection_cap(100, 1024) == 100
    assert connection_cap(5000, 1024) == 1024 - 256 - ACCEPT_BATCH
    assert connection_cap(0, 65536) == 10_000
    assert connection_cap(0, 10) == 8  # a floor: a tiny limit still serves someone
