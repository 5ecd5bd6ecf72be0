"""Plain-text tables for the CLI that fit a terminal and keep URLs whole.

A URL is what a user copies out of a listing, so it never shares a line with other cells
and is never folded or cut: it goes on its own indented line under its row, however long.
The other cells share the width; one column (a title) wraps when the row is too wide.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

GAP = "  "  # between columns
INDENT = "  "  # before a row's URL and note lines
MIN_WRAPPED = 8  # a wrapped column never gets narrower than this (nor than its header)


@dataclass(frozen=True, slots=True)
class Row:
    """One table row: its cells, then whole lines under it (URLs), then wrapped notes."""

    cells: tuple[str, ...]
    urls: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def terminal_width() -> int:
    """``$COLUMNS``, else the terminal's width, else 80 (pipes, files, tests)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size((80, 24)).columns
    return 80


def render(
    headers: Sequence[str],
    rows: Sequence[Row],
    *,
    width: int = 80,
    wrap: Sequence[int] = (),
    right: Sequence[int] = (),
) -> list[str]:
    """The table's lines: a header, then each row, its URLs and notes. When a row would
    pass ``width``, the ``wrap`` columns are narrowed in that order and their cells folded
    onto more lines. ``right``: columns aligned right (numbers)."""
    n = len(headers)
    widths = [max([len(headers[i]), *(len(r.cells[i]) for r in rows)]) for i in range(n)]
    for col in wrap:
        excess = sum(widths) + len(GAP) * (n - 1) - width
        if excess <= 0:
            break
        widths[col] = max(MIN_WRAPPED, len(headers[col]), widths[col] - excess)

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)
        ]
        return GAP.join(parts).rstrip()

    out = [line(headers)]
    for row in rows:
        columns = [[c] for c in row.cells]
        for col in wrap:
            columns[col] = textwrap.wrap(row.cells[col], widths[col]) or [""]
        for k in range(max(len(c) for c in columns)):
            out.append(line([c[k] if k < len(c) else "" for c in columns]))
        out += [INDENT + url for url in row.urls]
        for note in row.notes:
            out += wrapped(note, width, INDENT)
    return out


def wrapped(text: str, width: int, indent: str = "") -> list[str]:
    """``text`` folded to ``width`` (lines after the first indented once more)."""
    return textwrap.wrap(
        text, max(width, 2 * MIN_WRAPPED), initial_indent=indent, subsequent_indent=indent + INDENT
    )
