"""write_atomic: change-only, atomic, and failures that leave no half-written file."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from feedhub.publish import write as write_module
from feedhub.publish.write import DirSync, PublishError, write_atomic

SRC = Path(__file__).resolve().parents[1] / "src"
OLD_NS = 1_000_000_000 * 1_000_000_000  # 2001-09-09: an mtime no write would produce


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_writes_new_file_with_readable_mode(tmp_path: Path) -> None:
    target = tmp_path / "topic" / "2024-05.atom"  # parent created on demand
    assert write_atomic(target, b"<feed/>") is True
    assert target.read_bytes() == b"<feed/>"
    assert target.stat().st_mode & 0o777 == 0o644
    assert leftovers(target.parent) == []


def test_identical_bytes_are_not_rewritten(tmp_path: Path) -> None:
    target = tmp_path / "sahel.atom"
    write_atomic(target, b"same")
    os.utime(target, ns=(OLD_NS, OLD_NS))
    inode = target.stat().st_ino
    assert write_atomic(target, b"same") is False
    assert target.stat().st_mtime_ns == OLD_NS and target.stat().st_ino == inode
    assert write_atomic(target, b"different") is True
    assert target.read_bytes() == b"different"
    assert target.stat().st_mtime_ns != OLD_NS
    assert leftovers(tmp_path) == []


def test_changed_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "index.html"
    target.write_bytes(b"old")
    target.chmod(0o640)
    assert write_atomic(target, b"new") is True
    assert target.stat().st_mode & 0o777 == 0o640


def test_replace_false_never_touches_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "2024-01.atom"
    write_atomic(target, b"closed archive", replace=False)
    assert write_atomic(target, b"re-rendered", replace=False) is False
    assert target.read_bytes() == b"closed archive"


def test_unwritable_directory_raises_publish_error_naming_the_path(tmp_path: Path) -> None:
    # chmod does not stop root: a parent that is a regular FILE fails for everyone.
    blocker = tmp_path / "site"
    blocker.write_bytes(b"not a directory")
    target = blocker / "sahel.atom"
    with pytest.raises(PublishError) as info:
        write_atomic(target, b"data")
    message = str(info.value)
    assert str(target) in message and "\n" not in message
    assert blocker.read_bytes() == b"not a directory"


_FILL_SCRIPT = """
import sys
from pathlib import Path
from feedhub.publish.write import PublishError, write_atomic
try:
    write_atomic(Path(sys.argv[1]), b"x" * 200_000)
except PublishError as exc:
    print("PublishError:", exc)
"""


def _limit_file_size() -> None:
    # Like a full disk, but real for root too: writes past 64 KiB fail with EFBIG.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))


def test_failed_write_leaves_old_file_intact_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sahel.atom"
    target.write_bytes(b"previous good version")
    result = subprocess.run(
        [sys.executable, "-c", _FILL_SCRIPT, str(target)],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        preexec_fn=_limit_file_size,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.stdout.startswith(f"PublishError: cannot write {target}:"), result
    assert target.read_bytes() == b"previous good version"
    assert leftovers(tmp_path) == []


def test_dir_sync_writes_like_write_atomic_and_syncs_each_folder_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    real = write_module._fsync_dir
    monkeypatch.setattr(write_module, "_fsync_dir", lambda d: (synced.append(d), real(d)))
    files = DirSync()
    (tmp_path / "same.atom").write_bytes(b"same")
    assert files.write(tmp_path / "a.atom", b"a")
    assert files.write(tmp_path / "stories" / "s1.atom", b"1")
    assert files.write(tmp_path / "stories" / "s2.atom", b"2")
    assert not files.write(tmp_path / "same.atom", b"same")  # unchanged: nothing to sync
    assert synced == []  # none per file
    files.flush()
    assert sorted(synced) == [tmp_path, tmp_path / "stories"]
    assert (tmp_path / "stories" / "s2.atom").read_bytes() == b"2"
    files.flush()  # nothing written since
    assert len(synced) == 2


def test_dir_sync_failure_is_one_line_naming_the_folder(tmp_path: Path) -> None:
    files = DirSync()
    assert files.write(tmp_path / "gone" / "a.atom", b"a")
    shutil.rmtree(tmp_path / "gone")
    with pytest.raises(PublishError, match=r"cannot sync .*gone") as err:
        files.flush()
    assert "\n" not in str(err.value)
