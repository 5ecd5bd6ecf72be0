"""Human units in the config: durations (``90s``, ``15m``, ``2h``, ``7d``), sizes, percentages."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
# Binary multiples: "10MB" is 10 MiB, as in Miniflux's body cap and most operators' intuition.
_SIZE_UNITS = {
    None: 1,
    "b": 1,
    "kb": 1024,
    "kib": 1024,
    "mb": 1024**2,
    "mib": 1024**2,
    "gb": 1024**3,
    "gib": 1024**3,
}

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def parse_duration(value: object) -> timedelta:
    """``90s``/``15m``/``2h``/``7d``/``1w`` (or a number of seconds) → timedelta."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r} (use e.g. 90s, 15m, 2h, 7d)")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, timedelta):
        return value
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(f"invalid duration {value!r} (use e.g. 90s, 15m, 2h, 7d)")
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2).lower()]
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {value!r}")
    return timedelta(seconds=seconds)


def parse_size(value: object) -> int:
    """``512KB``/``10MB`` (binary multiples) or a number of bytes → int bytes."""
    if isinstance(value, bool):
        raise ValueError(f"invalid size {value!r} (use e.g. 512KB, 10MB)")
    if isinstance(value, int):
        size = value
    else:
        m = _SIZE.match(str(value))
        if not m:
            raise ValueError(f"invalid size {value!r} (use e.g. 512KB, 10MB)")
        unit = m.group(2).lower() if m.group(2) else None
        size = int(float(m.group(1)) * _SIZE_UNITS[unit])
    if size <= 0:
        raise ValueError(f"size must be positive, got {value!r}")
    return size


def parse_fraction(value: object) -> float:
    """``10%`` or a number in [0, 1] → a fraction in [0, 1]."""
    if isinstance(value, bool):
        raise ValueError(f"invalid percentage {value!r} (use e.g. 10%)")
    if isinstance(value, int | float):
        frac = float(value)
    else:
        m = _PERCENT.match(str(value))
        if not m:
            raise ValueError(f"invalid percentage {value!r} (use e.g. 10%)")
        frac = float(m.group(1)) / 100
    if not 0 <= frac <= 1:
        raise ValueError(f"percentage must be between 0% and 100%, got {value!r}")
    return frac


def format_duration(td: timedelta) -> str:
    """The shortest exact unit form of a duration, for tables and logs."""
    seconds = td.total_seconds()
    for unit in ("w", "d", "h", "m", "s"):
        size = _DURATION_UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
