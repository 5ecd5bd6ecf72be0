"""Atomic, change-only file writes for published documents.

Readers (and the HTTP server) must only ever see a complete old file or a complete new one:
write a temp file in the same directory, fsync it, ``os.replace`` it over the target, fsync the
directory so the rename survives a crash. Identical bytes are not rewritten, so mtime (and the
server's Last-Modified) only moves when the document really changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

DEFAULT_MODE = 0o644  # published files are read by other processes (web server)
# mkstemp(prefix=".NAME.", suffix=".tmp"): 8 random characters from [a-z0-9_].
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


class PublishError(Exception):
    """A document could not be written; the message is one line naming the path."""


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        if path.stat().st_size != len(data):  # cheap pre-check before reading it back
            return False
        return path.read_bytes() == data
    except FileNotFoundError:
        return False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:  # os.write may write less than asked (e.g. near a size limit)
        view = view[os.write(fd, view) :]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(
    path: Path, data: bytes, *, replace: bool = True, sync_dir: bool = True
) -> bool:
    """Write ``data`` to ``path`` atomically; return True if the file was (re)written.

    ``sync_dir`` False leaves the directory's fsync (the rename's durability) to the caller
    (`DirSync`): the file itself is always complete, old or new.

    Returns False without touching the file when it already holds exactly ``data``, or when it
    exists and ``replace`` is False (closed RFC 5005 archives are written once, never again).
    Raises PublishError on any OS error, leaving the old file (if any) intact and no temp file.
    """
    path = Path(path)
    tmp: str | None = None
    try:
        if path.exists() and (not replace or _same_bytes(path, data)):
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o7777 if path.exists() else DEFAULT_MODE
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, mode)  # mkstemp creates 0600: keep the file's mode, or 0644 if new
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = None
        if sync_dir:
            _fsync_dir(path.parent)
        return True
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise PublishError(f"cannot write {path}: {reason}") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def remove_leftover_temps(root: Path) -> list[Path]:
    """Delete temp files a killed writer left under ``root``; the paths removed.

    A SIGKILL between ``mkstemp`` and ``os.replace`` leaves a ``.NAME.XXXXXXXX.tmp``
    file behind. The server never serves hidden names, but they would pile up: the
    publisher calls this at its start, holding the publish lock, so no live writer's
    temp file can be taken for a leftover.
    """
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for p in root.rglob(".*.tmp"):
        if _TEMP_NAME.match(p.name) and p.is_file():
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
    return removed


class DirSync:
    """`write_atomic` for many files: each folder's renames made durable by one fsync of
    the folder in `flush`, not one per file (a publish of 2,000 new articles writes ~2,200
    story feeds into one folder: the folder fsyncs were 7 of its 120 s; issue 17)."""

    def __init__(self) -> None:
        self._dirs: set[Path] = set()

    def write(self, path: Path, data: bytes, *, replace: bool = True) -> bool:
        """`write_atomic` without the folder's fsync, which `flush` makes."""
        done = write_atomic(path, data, replace=replace, sync_dir=False)
        if done:
            self._dirs.add(Path(path).parent)
        return done

    def flush(self) -> None:
        """Make the renames so far durable (before recording them as published)."""
        for directory in sorted(self._dirs):
            try:
                _fsync_dir(directory)
            except OSError as exc:
                reason = exc.strerror or exc.__class__.__name__
                raise PublishError(f"cannot sync {directory}: {reason}") from exc
        self._dirs.clear()


def tree_stamp(root: Path, skip: frozenset[str] = frozenset()) -> str:
    """A digest of every file under ``root`` (path, size, mtime; names in ``skip`` left
    out): a publish of an unchanged store is skipped only while its output is exactly as
    written, so a file deleted, added or edited by hand still leads to a full publish
    (issue 17). Stats only, no file is read."""
    h = hashlib.sha1()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except FileNotFoundError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                stack.append(Path(e.path))
            elif e.name not in skip:
                st = e.stat(follow_symlinks=False)
                rel = os.path.relpath(e.path, root)
                h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n"
                         .encode("utf-8", "surrogateescape"))
    return h.hexdigest()
