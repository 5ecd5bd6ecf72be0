"""When is a source due next? A pure decision over the last fetch's outcome and the clock.

next due = now + interval ± jitter, pushed later by feed hints (RSS ``<ttl>``,
Cache-Control max-age) and by error backoff, all capped at ``max_interval``; a server's
Retry-After is a floor. Jitter is derived from the source name and time, so the decision
stays a pure function (same inputs, same answer) yet sources spread out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

# A hostile or confused server must not park a source for months with Retry-After.
MAX_RETRY_AFTER = timedelta(days=7)
MAX_BACKOFF_EXPONENT = 16


@dataclass(frozen=True, slots=True)
class SchedulePolicy:
    """The schedule's knobs, from the config's ``schedule`` section."""

    interval: timedelta = timedelta(minutes=30)
    jitter: float = 0.1  # fraction of the interval, applied ±
    min_interval: timedelta = timedelta(seconds=1)
    max_interval: timedelta = timedelta(days=1)


def next_due(
    name: str,
    now: datetime,
    interval: timedelta,
    policy: SchedulePolicy,
    *,
    error_count: int = 0,
    retry_after: timedelta | None = None,
    max_age: timedelta | None = None,
    ttl: timedelta | None = None,
) -> datetime:
    """The next time ``name`` should be fetched, given how the fetch at ``now`` went."""
    base = interval
    for hint in (ttl, max_age):
        # Feed hints may slow us down (be polite) but never speed us up past the config.
        if hint is not None and hint > base:
            base = hint
    if error_count > 0:
        base = base * (2 ** min(error_count - 1, MAX_BACKOFF_EXPONENT))
    base = max(policy.min_interval, min(base, max(policy.max_interval, interval)))
    due = now + base * (1 + policy.jitter * (2 * _unit(name, now) - 1))
    if retry_after is not None:
        due = max(due, now + min(retry_after, MAX_RETRY_AFTER))
    return due


def _unit(name: str, now: datetime) -> float:
    """A stable pseudo-random number in [0, 1) for this source and instant."""
    digest = hashlib.blake2b(f"{name}\0{now.isoformat()}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
