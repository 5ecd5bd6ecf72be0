"""Logging set-up for the service: one line per event, text for people or JSON for machines.

Structured facts go in ``extra={"fields": {...}}``: the text format already carries them in
its message, the JSON format adds them as keys so log pipelines need no regex.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the record's fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update({k: v for k, v in fields.items() if k not in out})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class OneLineFormatter(logging.Formatter):
    """The text format, with tracebacks folded onto the same line (one line per event)."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", " | ")


class RepeatFilter(logging.Filter):
    """At most ``burst`` warnings or errors with the same text in ``window`` seconds.

    A fault that repeats in a tight loop must not fill the disk: with the open-file limit
    reached, asyncio logged ``socket.accept() out of system resource`` 250,000 times in
    40 s. The line that reaches the burst says further copies are held back; the first
    one after the window says how many were.
    """

    MAX_KEYS = 1_000  # distinct texts remembered (old ones are forgotten first)

    def __init__(self, burst: int = 5, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._clock = clock
        self._seen: dict[tuple[str, int, str], list[float]] = {}  # key → [start, count]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True  # routine lines (one per fetch) repeat by design
        text = record.getMessage()
        key = (record.name, record.levelno, text.split("\n", 1)[0][:200])
        with self._lock:
            now = self._clock()
            seen = self._seen.get(key)
            if seen is None or now - seen[0] >= self.window:
                held = int(seen[1]) - self.burst if seen else 0
                self._seen.pop(key, None)
                self._seen[key] = [now, 1]
                if len(self._seen) > self.MAX_KEYS:
                    del self._seen[next(iter(self._seen))]
                if held > 0:
                    self._annotate(record, text, f"{held} more like it held back before this")
                return True
            seen[1] += 1
            if seen[1] > self.burst:
                return False
            if seen[1] == self.burst:
                self._annotate(
                    record, text, f"repeated {self.burst} times: more held back for "
                    f"{self.window:g}s"
                )
            return True

    @staticmethod
    def _annotate(record: logging.LogRecord, text: str, note: str) -> None:
        record.msg = f"{text} ({note})"
        record.args = None


def setup_logging(log_format: str = "text", verbosity: int = 0) -> None:
    """Route every logger to stderr; -1 quiet (warnings), 0 info, 1+ debug."""
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else OneLineFormatter(TEXT_FORMAT))
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Per-request lines only when asked for: feed readers poll a lot.
    access = logging.INFO if verbosity >= 1 else logging.WARNING
    logging.getLogger("feedhub.access").setLevel(access)
    # APScheduler logs every job run at INFO: only at -vv. Its warnings (a job skipped
    # because the previous run still runs, a missed run) say the service is falling behind:
    # always shown.
    logging.getLogger("apscheduler").setLevel(
        logging.DEBUG if verbosity >= 2 else logging.WARNING
    )
