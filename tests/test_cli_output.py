"""What the CLI prints for a person (tables that fit 80 columns, URLs whole) and for a
script (``--json``), the ``articles`` listing on both backends, and global options given
after a command's name. Every run is the real ``python -m feedhub`` on a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from feedhub.store.schema import article_topics, articles, sources
from tests.conftest import REPO

SAMPLES = REPO / "config" / "samples"
LONG = "very-long-path/" * 6  # a feed URL wider than 80 columns


def sample_config(tmp_path: Path, store: str) -> Path:
    """The bundled sample outlets (local files, offline) with three topics."""
    path = tmp_path / "feedhub.yaml"
    path.write_text(
        f"""\
store: {{url: "{store}"}}
output: {{dir: feeds}}
sources:
  - {{name: wire, url: "{SAMPLES}/wire.xml", topics: [sahel]}}
  - {{name: courier, url: "{SAMPLES}/courier.atom"}}
  - {{name: observer, url: "{SAMPLES}/observer.rdf"}}
  - {{name: monitor, url: "{SAMPLES}/monitor.json"}}
  - {{name: newsroom, url: "{SAMPLES}/articles"}}
  - {{name: far-away-feed-with-a-long-name, url: "http://127.0.0.1:9/{LONG}rss.xml"}}
topics:
  - {{name: sahel, title: Sahel security, keywords: [Sahel, Niger, Mali, Chad]}}
  - {{name: niger, title: Niger, keywords: [Niger, Niamey], exclude: [Niger Delta]}}
  - {{name: humanitarian, title: Humanitarian, keywords: [refugees, displaced, hunger]}}
""",
        encoding="utf-8",
    )
    return path


def run_json(cli, *args: str) -> object:
    r = cli(*args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def assert_fits(text: str, urls: set[str], width: int = 80) -> None:
    """Every line fits ``width``, except a URL on a line of its own, which is never cut."""
    for line in text.splitlines():
        if len(line) > width:
            assert line.strip() in urls, f"too wide and not a URL line: {line!r}"
    for url in urls:
        assert f"  {url}\n" in text, f"{url} is not whole on its own line"


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_articles_lists_stored_articles_with_ids_on_each_backend(
    backend: str, tmp_path: Path, cli
) -> None:
    from tests.conftest import backend_url

    with backend_url(backend, tmp_path) as url:
        cfg = str(sample_config(tmp_path, url))
        assert cli("-c", cfg, "fetch", "-q").returncode == 0
        engine = create_engine(url)
        with engine.connect() as conn:
            a, s = articles.c, sources.c
            stored = conn.execute(
                select(a.id, a.published, a.title, a.summary, s.name).join_from(
                    articles, sources, a.source_id == s.id
                )
            ).all()
            niger = {r.article_id for r in conn.execute(
                select(article_topics.c.article_id).where(article_topics.c.topic == "niger")
            )}
        engine.dispose()
        assert len(stored) > 30 and niger

        everything = run_json(cli, "articles", "-c", cfg, "--limit", "1000")
        newest_first = sorted(stored, key=lambda r: (r.published, r.id), reverse=True)
        assert [x["id"] for x in everything] == [r.id for r in newest_first]
        by_id = {r.id: r for r in stored}
        for x in everything:
            assert x["source"] == by_id[x["id"]].name
            assert x["title"] == by_id[x["id"]].title
            assert ("niger" in x["topics"]) == (x["id"] in niger)

        top3 = run_json(cli, "articles", "-c", cfg, "-n", "3")
        assert top3 == everything[:3]
        in_topic = run_json(cli, "articles", "-c", cfg, "--topic", "niger", "-n", "1000")
        assert {x["id"] for x in in_topic} == niger
        wire = run_json(cli, "articles", "-c", cfg, "--source", "wire", "-n", "1000")
        assert {x["id"] for x in wire} == {r.id for r in stored if r.name == "wire"}

        def has_all(r, words: list[str]) -> bool:
            text = f"{r.title} {r.summary}".lower()
            return all(w in text for w in words)

        found = run_json(cli, "articles", "-c", cfg, "--search", "NIGER army", "-n", "1000")
        expected = {r.id for r in stored if has_all(r, ["niger", "army"])}
        assert expected and {x["id"] for x in found} == expected
        # LIKE wildcards in the words are literal characters, not "anything".
        for wildcard in ("%", "_"):
            found = run_json(cli, "articles", "-c", cfg, "--search", wildcard, "-n", "1000")
            expected = {r.id for r in stored if has_all(r, [wildcard])}
            assert {x["id"] for x in found} == expected and len(expected) < len(stored) / 2

        r = cli("articles", "-c", cfg, "--limit", "1000")
        assert r.returncode == 0, r.stderr
        assert_fits(r.stdout, {x["url"] for x in everything if x["url"]})
        for x in everything:
            assert f"{x['id']}  " in r.stdout

        r = cli("articles", "-c", cfg, "--topic", "nigeria")
        assert r.returncode == 2
        assert r.stderr.strip() == f"feedhub: error: no topic named 'nigeria' in {cfg}"

        # A source taken out of the config keeps its stored articles, listed by its name.
        text = Path(cfg).read_text()
        Path(cfg).write_text("".join(ln for ln in text.splitlines(True) if "name: wire" not in ln))
        again = run_json(cli, "articles", "-c", cfg, "--source", "wire", "-n", "1000")
        assert [x["id"] for x in again] == [x["id"] for x in wire]
        r = cli("articles", "-c", cfg, "--source", "nope")
        assert r.returncode == 2
        assert r.stderr.strip() == (
            f"feedhub: error: no source named 'nope' in {cfg} or the store"
        )


def test_tables_fit_80_columns_and_json_parses(tmp_path: Path, cli) -> None:
    cfg = str(sample_config(tmp_path, f"sqlite:///{tmp_path}/feedhub.db"))
    assert cli("-c", cfg, "fetch", "--publish", "-q").returncode == 0

    listed = run_json(cli, "sources", "-c", cfg)
    assert [s["name"] for s in listed][:5] == ["wire", "courier", "observer", "monitor", "newsroom"]
    far = listed[5]
    assert far["status"] == "error" and far["error_count"] == 1 and far["last_error"]
    assert far["url"].endswith("/very-long-path/rss.xml") and len(far["url"]) > 80
    assert listed[0]["articles"] > 0 and listed[0]["status"] == "ok"
    r = cli("sources", "-c", cfg)
    assert r.returncode == 0, r.stderr
    assert_fits(r.stdout, {s["url"] for s in listed})
    assert f"  error: {far['last_error']}" in r.stdout.replace("\n    ", " ")

    topics = run_json(cli, "topics", "-c", cfg)
    assert [(t["name"], t["feed"]) for t in topics] == [
        (n, f"http://127.0.0.1:8080/{n}.atom") for n in ("sahel", "niger", "humanitarian")
    ]
    assert all(t["articles"] > 0 for t in topics)
    r = cli("topics", "-c", cfg)
    assert_fits(r.stdout, {t["feed"] for t in topics})

    clusters = run_json(cli, "duplicates", "-c", cfg)
    assert clusters and all(len(c["members"]) > 1 for c in clusters)
    assert all(c["members"][0]["id"] == c["story"] for c in clusters)
    r = cli("duplicates", "-c", cfg)
    assert_fits(r.stdout, {m["url"] for c in clusters for m in c["members"] if m["url"]})

    # The newest article with a box (under the relevance floor a box may be empty).
    found = run_json(cli, "articles", "-c", cfg)
    some, box = next(
        (a, b) for a in found if (b := run_json(cli, "related", str(a["id"]), "-c", cfg))["related"]
    )
    assert box["id"] == some["id"] and box["title"] == some["title"]
    assert box["related"] and all(0 < x["score"] <= 1 for x in box["related"])
    scores = [x["score"] for x in box["related"]]
    assert scores == sorted(scores, reverse=True)
    r = cli("related", str(some["id"]), "-c", cfg)
    assert_fits(r.stdout, {x["url"] for x in box["related"] if x["url"]})


def test_global_options_work_after_the_command_too(tmp_path: Path, cli) -> None:
    cfg = str(sample_config(tmp_path, f"sqlite:///{tmp_path}/feedhub.db"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # no config/feedhub.yaml here: only -c can name the file
    # -v after the command counts like before it: fetch prints one line per source.
    r = cli("fetch", "-s", "wire", "-c", cfg, "-v", cwd=elsewhere)
    assert r.returncode == 0 and "wire: " in r.stdout, r.stderr
    r = cli("sources", "-c", cfg, "--json", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)) == 6
    assert cli("check", "--config", cfg, cwd=elsewhere).stdout.startswith(f"{cfg}: ok")
    assert cli("check", "-c", cfg, "-q", cwd=elsewhere).stdout == ""  # quiet after it
    r = cli("store", "migrate", "-c", cfg, cwd=elsewhere)
    assert r.returncode == 0 and "schema version" in r.stdout, r.stderr
    r = cli("opml", "export", "-c", cfg, cwd=elsewhere)
    assert r.returncode == 0 and "far-away-feed" in r.stdout, r.stderr
    # The one after the command wins.
    r = cli("-c", str(tmp_path / "missing.yaml"), "check", "-c", cfg, cwd=elsewhere)
    assert r.returncode == 0, r.stderr


def test_help_fits_80_columns_and_cuts_nothing(cli) -> None:
    for args in (["--help"], ["articles", "--help"], ["run", "--help"], ["store", "--help"]):
        r = cli(*args, env={"COLUMNS": "80"})
        assert r.returncode == 0, r.stderr
        described = [line for line in r.stdout.splitlines() if not line.startswith("Usage:")]
        assert not any("..." in line for line in described), r.stdout  # click's cut mark
        assert max(len(line) for line in r.stdout.splitlines()) <= 80
    r = cli("--help", env={"COLUMNS": "80"})
    joined = " ".join(r.stdout.split())
    assert "Fetch every enabled source once (or the named ones), store new articles, exit." in (
        joined
    )
    assert "articles List stored articles with their ids, newest first." in joined
