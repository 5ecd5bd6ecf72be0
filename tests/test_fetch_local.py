"""Local sources: one feed file and folders of article files, on a real temporary disk."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedhub.fetch import read_file, read_folder

URL = "file:///feeds/x"


def write(root: Path, rel: str, data: bytes = b"x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# -- one file -----------------------------------------------------------------------------


def test_read_file_returns_its_bytes(tmp_path: Path) -> None:
    feed = write(tmp_path, "feed.xml", b"<rss/>\x00\xff")
    r = read_file(feed, URL)
    assert r.ok and r.body == b"<rss/>\x00\xff" and r.url == URL and r.files is None


def test_missing_file_is_an_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.xml"
    r = read_file(missing, URL)
    assert r.error is not None and str(missing) in r.error and "\n" not in r.error
    assert r.body is None


def test_a_folder_is_not_a_feed_file(tmp_path: Path) -> None:
    r = read_file(tmp_path, URL)
    assert r.error is not None and str(tmp_path) in r.error


def test_file_over_the_cap_is_an_error(tmp_path: Path) -> None:
    feed = write(tmp_path, "feed.xml", b"a" * 101)
    assert read_file(feed, URL, max_bytes=101).ok
    r = read_file(feed, URL, max_bytes=100)
    assert r.error == f"{feed} exceeds 100 bytes limit" and r.body is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    feed = write(tmp_path, "feed.xml")
    feed.chmod(0)
    r = read_file(feed, URL)
    assert r.error is not None and "Permission denied" in r.error


# -- folders ------------------------------------------------------------------------------


def test_folder_snapshot_is_recursive_sorted_and_filtered(tmp_path: Path) -> None:
    for rel in [
        "b.md",
        "a.markdown",
        "sub/page.html",
        "sub/deeper/note.txt",
        "Z.HTM",  # suffixes match in any case
        "feed.json",  # not an article type
        "image.png",
        ".hidden.md",  # hidden file
        ".git/HEAD.md",  # hidden folder
        "sub/.cache/x.md",  # hidden folder deeper down
    ]:
        write(tmp_path, rel, rel.encode())
    r = read_folder(tmp_path, URL)
    assert r.ok and r.body is None and r.files is not None
    paths = [f.path for f in r.files]
    assert paths == ["Z.HTM", "a.markdown", "b.md", "sub/deeper/note.txt", "sub/page.html"]
    assert all(f.body == f.path.encode() for f in r.files)


def test_folder_mtimes_are_utc(tmp_path: Path) -> None:
    page = write(tmp_path, "a.md")
    stamp = datetime(2024, 3, 1, 8, 30, 15, tzinfo=UTC)
    os.utime(page, (stamp.timestamp(), stamp.timestamp()))
    (only,) = read_folder(tmp_path, URL).files or ()
    assert only.mtime == stamp and only.mtime.utcoffset() is not None


def test_oversized_files_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "big.md", b"a" * 101)
    write(tmp_path, "fits.md", b"a" * 100)
    r = read_folder(tmp_path, URL, max_file_bytes=100)
    assert r.ok and [f.path for f in r.files or ()] == ["fits.md"]


def test_fifo_is_skipped_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.md")  # opening it for reading would wait for a writer forever
    write(tmp_path, "a.md")
    r = read_folder(tmp_path, URL)
    assert r.ok and [f.path for f in r.files or ()] == ["a.md"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_in_folder_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, "a.md")
    write(tmp_path, "secret.md").chmod(0)
    r = read_folder(tmp_path, URL)
    assert r.ok and [f.path for f in r.files or ()] == ["a.md"]


def test_empty_folder_is_an_empty_snapshot(tmp_path: Path) -> None:
    r = read_folder(tmp_path, URL)
    assert r.ok and r.files == ()


def test_missing_folder_is_an_error_naming_the_path(tmp_path: Path) -> None:
    r = read_folder(tmp_path / "gone", URL)
    assert r.error == f"folder {tmp_path / 'gone'} does not exist" and r.files is None


def test_a_file_is_not_a_folder(tmp_path: Path) -> None:
    page = write(tmp_path, "a.md")
    r = read_folder(page, URL)
    assert r.error == f"folder {page} is not a folder" and r.files is None


def test_dangling_symlink_in_folder_is_skipped(tmp_path: Path) -> None:
    # Unreadable even for root, unlike chmod 0: the open fails, the folder still reads.
    (tmp_path / "broken.md").symlink_to(tmp_path / "nowhere.md")
    write(tmp_path, "a.md")
    r = read_folder(tmp_path, URL)
    assert r.ok and [f.path for f in r.files or ()] == ["a.md"]


def test_a_hidden_root_folder_is_still_read(tmp_path: Path) -> None:
    root = tmp_path / ".notes"
    write(root, "a.md")
    r = read_folder(root, URL)
    assert r.ok and [f.path for f in r.files or ()] == ["a.md"]
