"""Checks on the raw config data that still run when pydantic rejects some field.

``feedhub check`` should list every problem of a file in one run: a bad duration must not
hide an unknown topic. These functions read the parsed YAML as plain data, skip values of
the wrong type (pydantic reports those), and return ``(key path, problem)`` pairs.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]


def did_you_mean(word: str, choices: list[str] | set[str]) -> str:
    """`` (did you mean 'interval'?)`` for the closest choice, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _items(data: dict[str, Any], key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The mapping entries of list ``data[key]`` with their index (anything else skipped)."""
    value = data.get(key)
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict):
                yield i, item


def _names(data: dict[str, Any], key: str) -> list[tuple[int, str]]:
    return [(i, e["name"]) for i, e in _items(data, key) if isinstance(e.get("name"), str)]


def reference_problems(data: dict[str, Any]) -> list[Problem]:
    """Duplicate source/topic names, and references to a topic or source that is not there."""
    problems: list[Problem] = []
    for key, what in (("sources", "source"), ("topics", "topic")):
        seen: dict[str, int] = {}
        for i, name in _names(data, key):
            if name in seen:
                msg = f"duplicate {what} name {name!r} (first at {key}[{seen[name]}])"
                problems.append(((key, i, "name"), msg))
            else:
                seen.setdefault(name, i)
    topic_names = {n for _, n in _names(data, "topics")}
    source_names = {n for _, n in _names(data, "sources")}
    for key, ref, names, what in (
        ("sources", "topics", topic_names, "topic"),
        ("topics", "sources", source_names, "source"),
    ):
        for i, entry in _items(data, key):
            refs = entry.get(ref)
            if not isinstance(refs, list):
                continue
            for j, name in enumerate(refs):
                if isinstance(name, str) and name not in names:
                    hint = did_you_mean(name, names)
                    problems.append(((key, i, ref, j), f"unknown {what} {name!r}{hint}"))
    return problems


def missing_source_problems(data: dict[str, Any], resolved: dict[int, str]) -> list[Problem]:
    """Enabled local sources (``resolved``: index → absolute path) whose file or folder is
    not there. Only ``feedhub check`` asks: at fetch time it is that source's error alone."""
    problems: list[Problem] = []
    for i, entry in _items(data, "sources"):
        path = resolved.get(i)
        if path is None or entry.get("enabled") is False:
            continue
        p = Path(path)
        if p.exists():
            continue
        wanted = "folder" if str(entry.get("url", "")).endswith("/") else "file or folder"
        problems.append((("sources", i, "url"), f"no such {wanted}: {p}"))
    return problems


def unwritable(folder: Path) -> str | None:
    """Why files cannot be created in ``folder`` (made on demand), or None if they can.

    The folder need not exist yet: publishing and the store create it. What cannot be
    fixed by creating folders is reported: a part of the path that is a file, or a nearest
    existing folder the process may not write (``os.access``: permissions, read-only mount).
    """
    probe = folder
    while not os.path.exists(probe):  # never raises (a name too long counts as absent)
        if probe.parent == probe:
            return f"{folder} has no existing parent folder"
        probe = probe.parent
    if not os.path.isdir(probe):
        return f"{probe} is a file, not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable by {_user()}"
    return None


def _user() -> str:
    """This process's user, as a check run by an admin may differ from the service's."""
    import pwd

    uid = os.geteuid()
    try:
        return f"user {pwd.getpwuid(uid).pw_name}"
    except KeyError:  # a uid without a passwd entry (containers)
        return f"uid {uid}"


_SQLITE = re.compile(r"^sqlite(\+\w+)?:///(?P<path>[^?]*)")


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///PATH`` URL (None for other stores and memory)."""
    m = _SQLITE.match(url)
    if not m or m["path"] in ("", ":memory:"):
        return None
    return Path(m["path"])


def folder_problems(
    output_dir: Path | None, store_url: str | None, store_loc: Loc = ("store",)
) -> list[Problem]:
    """The output folder and a SQLite store's folder must be writable (see ``unwritable``)."""
    problems: list[Problem] = []
    if output_dir is not None:
        why = unwritable(output_dir)
        if why:
            problems.append((("output", "dir"), f"cannot write to {output_dir}: {why}"))
    db = sqlite_path(store_url) if store_url else None
    if db is not None:
        if os.path.isdir(db):
            problems.append((store_loc, f"the store {db} is a folder, not a SQLite file"))
        elif os.path.exists(db) and not os.access(db, os.W_OK):
            problems.append((store_loc, f"cannot write the store {db}: not writable by {_user()}"))
        else:
            why = unwritable(db.parent)
            if why:
                problems.append((store_loc, f"cannot write the store {db}: {why}"))
    return problems
