"""Folder sources: Markdown, HTML and wire-copy text files with optional front matter."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from feedhub.model import Article, LocalFile, ParsedFeed
from feedhub.parse import parse_folder

ARTICLES = Path(__file__).parent / "data" / "articles"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
MTIME = datetime(2024, 5, 20, 9, 0, tzinfo=UTC)
BASE = "https://news.example.org/"


def snapshot() -> list[LocalFile]:
    """The fixture folder as the fetch stage would hand it over (fixed mtimes)."""
    return [
        LocalFile(path=p.relative_to(ARTICLES).as_posix(), body=p.read_bytes(), mtime=MTIME)
        for p in sorted(ARTICLES.rglob("*"))
        if p.is_file()
    ]


def parse(files: list[LocalFile]) -> ParsedFeed:
    return parse_folder(files, base_url=BASE, source_name="desk", now=NOW)


def by_path(feed: ParsedFeed, path: str) -> Article:
    return next(a for a in feed.articles if a.path == path)


def test_files_that_become_articles() -> None:
    feed = parse(snapshot())
    assert feed.version == "folder"
    assert feed.title == "Desk"  # the source name made readable: a folder has no title
    # Empty/blank files, images and hidden folders are skipped; sorted by path.
    assert [a.path for a in feed.articles] == [
        "2024/tram-line.md",
        "Local Story.html",
        "broken.md",
        "notes.markdown",
        "wire/ap-0412.txt",
    ]


def test_markdown_with_front_matter() -> None:
    tram = by_path(parse(snapshot()), "2024/tram-line.md")
    assert tram.guid == "desk-2024-0042"
    assert tram.title == 'Council approves the "new" tram line'
    assert tram.url == "https://news.example.org/articles/desk/2024/tram-line.html"
    assert tram.published == datetime(2024, 3, 5, 13, 30, tzinfo=UTC)
    assert tram.authors == ("Jane Roe",)
    assert tram.categories == ("Transport", "council")
    assert tram.summary == "<p>The council voted 31 to 12.</p>"
    assert "<strong>31–12</strong>" in tram.content
    assert "<table>" in tram.content  # the "extra" extension (tables)
    # A relative link resolves next to the article's published URL.
    assert 'href="https://news.example.org/articles/desk/maps/tram.html"' in tram.content
    assert "<script" not in tram.content and "alert" not in tram.content
    assert "onclick" not in tram.content
    assert "Raw HTML in Markdown is sanitized." in tram.content


def test_html_file() -> None:
    story = by_path(parse(snapshot()), "Local Story.html")
    assert story.guid == "file:Local Story.html"
    assert story.title == "Harbour & fish market"
    assert story.url == "https://news.example.org/articles/desk/local-story.html"
    assert story.published == MTIME  # no front matter: the file time
    assert '<a href="https://news.example.org/articles/desk/market.html"' in story.content
    for bad in ("<script", "onclick", "<!--", "data:", "<iframe", "color: red", "<title"):
        assert bad not in story.content, bad
    assert '<img alt="inline">' in story.content


def test_wire_copy_text() -> None:
    wire = by_path(parse(snapshot()), "wire/ap-0412.txt")
    assert wire.title == "FERRY SERVICE RESUMES AFTER STORM"
    assert wire.guid == "file:wire/ap-0412.txt"
    assert wire.published == MTIME
    # One paragraph per line, text escaped.
    assert wire.content == (
        "<p>HARBOURTOWN (Wire) — Ferry service resumed on Tuesday after a two-day halt.</p>"
        "<p>Officials said the &lt;harbour&gt; &amp; docks were undamaged.</p>"
        "<p>Crossings will run on the winter timetable.</p>"
    )


def test_text_with_blank_lines_splits_paragraphs_there() -> None:
    body = b"Title line\n\nFirst paragraph\nwrapped here.\n\nSecond paragraph.\n"
    (article,) = parse([LocalFile("story.txt", body, MTIME)]).articles
    assert article.title == "Title line"
    assert article.content == "<p>First paragraph wrapped here.</p><p>Second paragraph.</p>"


def test_broken_front_matter_keeps_the_article() -> None:
    feed = parse(snapshot())
    broken = by_path(feed, "broken.md")
    assert broken.content == "<p>The body survives broken front matter.</p>"
    assert broken.published == MTIME
    assert broken.title == "The body survives broken front matter."
    assert feed.warning is not None and "broken.md: broken front matter" in feed.warning


def test_naive_front_matter_date_is_utc_and_lists() -> None:
    note = by_path(parse(snapshot()), "notes.markdown")
    assert note.published == datetime(2024, 2, 1, 8, 0, tzinfo=UTC)
    assert note.authors == ("Ada Quill", "Bob")
    assert note.categories == ("science", "notes")
    assert note.title == "Naive date note"


def test_slug_is_stable_across_edits_and_unique() -> None:
    before = parse([LocalFile("News/Été 2024!.md", b"# One\n\nfirst", MTIME)]).articles[0]
    after = parse([LocalFile("News/Été 2024!.md", b"# Two\n\nedited", NOW)]).articles[0]
    assert before.url == after.url == "https://news.example.org/articles/desk/news/ete-2024.html"
    assert before.guid == after.guid == "file:News/Été 2024!.md"
    assert (before.title, after.title) == ("One", "Two")
    clash = parse(
        [LocalFile("a.md", b"one", MTIME), LocalFile("A.markdown", b"two", MTIME)]
    ).articles
    assert len({a.url for a in clash}) == 2


def test_odd_files_never_fail_the_folder() -> None:
    files = [
        LocalFile("cp1252.txt", "Caf\u00e9 news\nPrices rose.".encode("cp1252"), MTIME),
        LocalFile("list.md", b"---\n- just\n- a list\n---\nBody", MTIME),
        LocalFile("bad-date.md", b"---\ndate: 2024-13-45\n---\nBody", MTIME),
        LocalFile("alias.md", b"---\na: &x [1]\nb: *x\n---\nAliased", MTIME),
        LocalFile("unclosed.md", b"---\ntitle: x\nno end", MTIME),
        LocalFile("future.md", b"---\ndate: 2999-01-01\n---\nLater", MTIME),
    ]
    feed = parse(files)
    assert len(feed.articles) == len(files)
    by = {a.path: a for a in feed.articles}
    assert by["cp1252.txt"].title == "Café news"
    assert by["future.md"].published is None  # treated as missing: first-seen
    assert by["bad-date.md"].published == MTIME
    assert feed.warning is not None
    for path in ("cp1252.txt", "list.md", "bad-date.md", "alias.md", "unclosed.md"):
        assert path in feed.warning


def test_folder_is_deterministic() -> None:
    files = snapshot()
    assert parse(files) == parse(list(reversed(files)))
