"""Logging set-up for the service: one line per event, text for people or JSON for machines.

Structured facts go in ``extra={"fields": {...}}``: the text format already carries them in
its message, the JSON format adds them as keys so log pipelines need no regex.
"""

from __future__ import annotations

import json
import logging
import sys
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


def setup_logging(log_format: str = "text", verbosity: int = 0) -> None:
    """Route every logger to stderr; -1 quiet (warnings), 0 info, 1+ debug."""
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else OneLineFormatter(TEXT_FORMAT))
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
