"""Reading a published output folder the way a feed reader or browser would, strictly."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

ATOM = "{http://www.w3.org/2005/Atom}"
LOCK_FILE = ".feedhub-publish.lock"


def is_temp(p: Path) -> bool:
    """A writer's temp file (``.NAME.XXXXXXXX.tmp``): hidden, never served."""
    return p.name.startswith(".") and p.name.endswith(".tmp")


def check_output(out: Path) -> tuple[int, list[str]]:
    """Parse every published file (a torn or truncated one raises or fails an assert);
    return (files checked, temp files found)."""
    checked, temps = 0, []
    if not out.is_dir():
        return 0, []
    for p in sorted(out.rglob("*")):
        if not p.is_file() or p.name == LOCK_FILE:
            continue
        if is_temp(p):
            temps.append(str(p.relative_to(out)))
            continue
        data = p.read_bytes()
        if p.suffix in (".atom", ".opml"):
            root = ET.fromstring(data)  # raises on a truncated or torn document
            assert root.tag == (f"{ATOM}feed" if p.suffix == ".atom" else "opml"), p
        elif p.suffix == ".html":
            text = data.decode("utf-8")
            assert text.lstrip().lower().startswith("<!doctype html>"), p
            assert text.rstrip().endswith("</html>"), f"{p} is not a whole HTML page"
        checked += 1
    return checked, temps
