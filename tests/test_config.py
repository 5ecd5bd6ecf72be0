"""Config validation: every problem is one line naming FILE:LINE:COLUMN, the key path and what."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from feedhub.config import ConfigError, load_config
from feedhub.config.units import parse_duration, parse_fraction, parse_size
from feedhub.model import SourceKind
from tests.conftest import REPO


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "feedhub.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("7d", 604800), ("1w", 604800), (45, 45)],
)
def test_durations(text: object, expected: int) -> None:
    assert parse_duration(text) == timedelta(seconds=expected)


@pytest.mark.parametrize("bad", ["5y", "m", "-3s", "0s", "", True])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_sizes_and_percentages() -> None:
    assert parse_size("512KB") == 512 * 1024
    assert parse_size("10MB") == 10 * 1024 * 1024
    assert parse_size(1000) == 1000
    assert parse_fraction("10%") == pytest.approx(0.1)
    with pytest.raises(ValueError):
        parse_size("ten")
    with pytest.raises(ValueError):
        parse_fraction("150%")


def test_minimal_config_resolves_paths_against_its_folder(tmp_path: Path) -> None:
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "a.xml").write_text("<rss/>")
    (tmp_path / "articles").mkdir()
    cfg = load_config(
        write(
            tmp_path,
            """
store: data/x.db
output: {dir: out}
sources:
  - {name: a, url: samples/a.xml}
  - {name: b, url: articles}
  - {name: c, url: "file://TMP/samples/a.xml", interval: 90s}
  - {name: d, url: "https://example.org/feed"}
""".replace("TMP", str(tmp_path)),
        )
    )
    assert cfg.store_url == f"sqlite:///{tmp_path}/data/x.db"
    assert cfg.output_dir == tmp_path / "out"
    kinds = {s.name: (s.kind, s.url) for s in cfg.sources}
    assert kinds["a"] == (SourceKind.FILE, str(tmp_path / "samples" / "a.xml"))
    assert kinds["b"] == (SourceKind.FOLDER, str(tmp_path / "articles"))
    assert kinds["c"][0] is SourceKind.FILE
    assert kinds["d"] == (SourceKind.HTTP, "https://example.org/feed")
    assert cfg.source("c").interval == timedelta(seconds=90)
    assert cfg.source("a").interval == timedelta(minutes=30)  # schedule.interval default


def test_each_problem_is_one_line_with_position_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
site: {title: x, base_url: "ftp://host/"}
fetch:
  timeout: soon
  max_bytes: 10MB
  colour: blue
sources:
  - name: wire
    url: https://example.org/rss
  - name: courier
    url: gopher://example.org/
  - name: wire2
  - name: x
    url: https://example.org/x
    interval: 5y
    enabled: maybe
""",
    )
    lines = problems(path)
    text = "\n".join(lines)
    assert f"{path}:1:" in text and "site.base_url" in text
    assert f"{path}:3:3: fetch.timeout: invalid duration 'soon'" in text
    assert f"{path}:5:3: fetch.colour: unknown key" in text
    assert f"{path}:10:5: sources[1].url: unsupported URL scheme 'gopher'" in text
    assert f"{path}:11:5: sources[2].url: missing required key" in text
    assert f"{path}:14:5: sources[3].interval: invalid duration '5y'" in text
    assert f"{path}:15:5: sources[3].enabled:" in text
    assert all("\n" not in line for line in lines)
    assert len(lines) == 7


def test_duplicate_names_and_unknown_references(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
sources:
  - {name: wire, url: "https://a.example/rss", topics: [nope]}
  - {name: wire, url: "https://b.example/rss"}
topics:
  - {name: t, title: T, sources: [ghost]}
  - {name: t, title: T2}
""",
    )
    text = "\n".join(problems(path))
    assert f"{path}:3:6: sources[1].name: duplicate source name 'wire'" in text
    assert f"{path}:6:6: topics[1].name: duplicate topic name 't'" in text
    assert "sources[0].topics[0]: unknown topic 'nope'" in text
    assert "topics[0].sources[0]: unknown source 'ghost'" in text


def test_duplicate_yaml_key_and_broken_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "site: {title: a}\nsite: {title: b}\n")
    assert any(":2:1: site: duplicate key" in p for p in problems(path))
    path = write(tmp_path, "sources:\n  - name: [unclosed\n")
    (line,) = problems(path)
    assert line.startswith(f"{path}:") and "invalid YAML" in line


def test_bad_names_and_regex(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
sources:
  - {name: "Has Spaces", url: "https://a.example/rss"}
topics:
  - {name: t, title: T, regex: "(unclosed"}
""",
    )
    text = "\n".join(problems(path))
    assert "sources[0].name: invalid name 'Has Spaces'" in text
    assert "topics[0].regex: invalid regular expression" in text


def test_cli_exit_2_with_file_line_and_key(tmp_path: Path, cli) -> None:
    path = write(tmp_path, "sources:\n  - name: a\n    url: https://x.example/\n    interval: 3q\n")
    r = cli("-c", str(path), "check")
    assert r.returncode == 2
    assert f"{path}:4:5: sources[0].interval: invalid duration '3q'" in r.stderr
    assert "Traceback" not in r.stderr


def test_env_var_picks_config(tmp_path: Path, cli) -> None:
    path = write(tmp_path, "sources: []\n")
    r = cli("check", env={"FEEDHUB_CONFIG": str(path)})
    assert r.returncode == 0, r.stderr
    assert str(path) in r.stdout


def test_shipped_config_checks(cli) -> None:
    r = cli("-c", str(REPO / "config" / "feedhub.yaml"), "check")
    assert r.returncode == 0, r.stderr


def test_fetch_guard_and_entry_cap_reach_the_stages(tmp_path: Path) -> None:
    from feedhub.wiring import fetch_settings

    defaults = load_config(write(tmp_path, "sources: []\n"))
    assert not fetch_settings(defaults).allow_private_redirects
    assert defaults.file.fetch.max_entries == 2_000
    cfg = load_config(
        write(tmp_path, "fetch: {allow_private_redirects: true, max_entries: 500}\n")
    )
    assert fetch_settings(cfg).allow_private_redirects and cfg.file.fetch.max_entries == 500
    path = write(tmp_path, "fetch: {allow_private_redirects: maybe, max_entries: 0}\n")
    text = "\n".join(problems(path))
    assert "fetch.allow_private_redirects" in text and "fetch.max_entries" in text
