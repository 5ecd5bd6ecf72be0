"""How far a long related run got, for whoever shows it (issue 17: a first publish of 100k
articles runs for minutes; the CLI draws a progress bar on a terminal, the service logs a
line per batch)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Step:
    """After a committed batch: ``done`` of ``total`` articles of the pass ``name``."""

    name: str
    done: int
    total: int


Progress = Callable[[Step], None]
