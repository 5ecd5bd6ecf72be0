"""OPML import/export of sources: round trip through the config file, comments kept."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from feedhub.config import load_config
from feedhub.opml import OpmlError, parse_opml

CONFIG = """\
# my feeds
site: {title: Mine}
sources:
  # the wire
  - name: wire
    url: https://wire.example/rss
topics:
  - {name: t, title: T, sources: [wire]}
"""

OPML = b"""<?xml version="1.0"?>
<opml version="2.0"><head><title>x</title></head><body>
  <outline text="News">
    <outline type="rss" text="Daily Courier" xmlUrl="https://courier.example/atom"/>
    <outline type="rss" text="Wire again" xmlUrl="https://wire.example/rss"/>
  </outline>
  <outline type="rss" title="Le Monde &amp; Co" xmlUrl="https://lemonde.example/rss.xml"/>
  <outline text="no feed here"/>
</body></opml>"""


def test_parse_opml_reads_nested_outlines() -> None:
    feeds = parse_opml(OPML)
    assert [(f.title, f.url) for f in feeds] == [
        ("Daily Courier", "https://courier.example/atom"),
        ("Wire again", "https://wire.example/rss"),
        ("Le Monde & Co", "https://lemonde.example/rss.xml"),
    ]


def test_parse_opml_refuses_entities_and_non_opml() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><opml><body>'
        b'<outline xmlUrl="https://x.example/&a;"/></body></opml>'
    )
    for bad in (bomb, b"<html/>", b"not xml"):
        try:
            parse_opml(bad)
        except OpmlError:
            continue
        raise AssertionError(f"accepted {bad!r}")


def test_import_appends_sources_keeping_comments_then_export(tmp_path: Path, cli) -> None:
    cfg = tmp_path / "feedhub.yaml"
    cfg.write_text(CONFIG)
    opml = tmp_path / "subs.opml"
    opml.write_bytes(OPML)
    r = cli("-c", str(cfg), "opml", "import", str(opml))
    assert r.returncode == 0, r.stderr
    assert "added 2 sources" in r.stdout
    text = cfg.read_text()
    assert text.startswith(CONFIG.split("topics:")[0].rstrip("\n"))  # comments, order kept
    assert "# the wire" in text
    loaded = load_config(cfg)
    assert [s.name for s in loaded.sources] == ["wire", "daily-courier", "le-monde-co"]
    assert loaded.source("le-monde-co").title == "Le Monde & Co"
    assert [t.name for t in loaded.file.topics] == ["t"]

    again = cli("-c", str(cfg), "opml", "import", str(opml))
    assert again.returncode == 0 and "nothing to import" in again.stdout

    r = cli("-c", str(cfg), "opml", "export")
    assert r.returncode == 0, r.stderr
    root = etree.fromstring(r.stdout.encode())
    urls = [o.get("xmlUrl") for o in root.iter("outline")]
    assert urls == [
        "https://wire.example/rss",
        "https://courier.example/atom",
        "https://lemonde.example/rss.xml",
    ]
    assert all(o.get("type") == "rss" and o.get("text") for o in root.iter("outline"))


def test_import_of_a_broken_file_changes_nothing(tmp_path: Path, cli) -> None:
    cfg = tmp_path / "feedhub.yaml"
    cfg.write_text(CONFIG)
    bad = tmp_path / "bad.opml"
    bad.write_text("<opml><body><outline")
    r = cli("-c", str(cfg), "opml", "import", str(bad))
    assert r.returncode == 2 and "not well-formed" in r.stderr and "Traceback" not in r.stderr
    assert cfg.read_text() == CONFIG


def test_export_names_sources_by_title_and_leaves_folders_out(tmp_path: Path, cli) -> None:
    """Issue 18: a reader importing the export sees "Daily Courier — World", not `courier`, and no
    folder path posing as a feed URL."""
    samples = Path(__file__).resolve().parents[1] / "config" / "samples"
    cfg = tmp_path / "feedhub.yaml"
    cfg.write_text(
        "site: {title: Mine}\nstore: data/feedhub.db\noutput: {dir: out}\nsources:\n"
        f"  - {{name: courier, url: {samples / 'courier.atom'}}}\n"
        f"  - {{name: wire, url: {samples / 'wire.xml'}, title: The Wire}}\n"
        f"  - {{name: newsroom, url: {samples / 'articles'}}}\n"
        "topics:\n  - {name: t, title: T, keywords: [Niger]}\n"
    )
    before = cli("-c", str(cfg), "opml", "export")  # nothing fetched yet: the slug
    assert before.returncode == 0, before.stderr
    assert [o.get("title") for o in etree.fromstring(before.stdout.encode()).iter("outline")] == [
        "courier", "The Wire"
    ]
    assert cli("-c", str(cfg), "fetch").returncode == 0
    r = cli("-c", str(cfg), "opml", "export")
    assert r.returncode == 0 and "left out folder sources (not feeds): newsroom" in r.stderr
    outlines = list(etree.fromstring(r.stdout.encode()).iter("outline"))
    assert [(o.get("text"), o.get("title")) for o in outlines] == [
        ("Daily Courier — World", "Daily Courier — World"), ("The Wire", "The Wire")
    ]
    assert [o.get("xmlUrl") for o in outlines] == [
        (samples / "courier.atom").as_uri(), (samples / "wire.xml").as_uri()
    ]
    assert outlines[0].get("htmlUrl", "").startswith("https://")
