"""Bounded ``IN (…)`` lists: one helper for every query that takes many ids.

SQLite refuses more than 32,766 bound variables in one statement, and long IN lists make
poor plans on both backends, so callers split id lists with ``chunks``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

DEFAULT_SIZE = 500


def chunks(items: Sequence[T], size: int = DEFAULT_SIZE) -> Iterator[Sequence[T]]:
    """Consecutive slices of ``items`` of at most ``size`` elements."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
