"""What the scheduler and the HTTP server share: the live config, metrics and liveness facts.

One mutable object owned by the service's event loop (no locks: only that loop touches it).
A SIGHUP reload swaps ``config`` here, so the server picks up a new output folder or WebSub
hub on its next request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from feedhub.config import Config
from feedhub.service.metrics import Metrics

MIN_STALE_AFTER = 120.0  # seconds; a sweep with slow sources legitimately takes a while


@dataclass
class ServiceState:
    """Live facts for /readyz and /metrics.

    ``beat`` moves whenever the scheduler shows progress (a sweep starts or ends, a source
    finishes): a long sweep that keeps finishing sources is healthy, a stuck one is not.
    """

    config: Config
    metrics: Metrics = field(default_factory=Metrics)
    with_scheduler: bool = True  # False for `feedhub serve`: readiness ignores the scheduler
    scheduler_running: bool = False
    sweep_interval: float = 5.0
    beat: float = field(default_factory=time.monotonic)
    last_sweep_end: float | None = None
    broken: str | None = None  # why this worker cannot do its job at all (one line)

    def heartbeat(self) -> None:
        self.beat = time.monotonic()

    @property
    def stale_after(self) -> float:
        """Seconds without progress after which the scheduler counts as stuck."""
        timeout = self.config.file.fetch.timeout.total_seconds()
        return max(MIN_STALE_AFTER, 10 * self.sweep_interval, 2 * timeout)

    def scheduler_problem(self) -> str | None:
        """Why the scheduler is not ready (one line), or None when it is."""
        if self.broken:
            return self.broken
        if not self.with_scheduler:
            return None
        if not self.scheduler_running:
            return "scheduler not running"
        idle = time.monotonic() - self.beat
        if idle > self.stale_after:
            return f"no sweep progress for {idle:.0f}s"
        return None
