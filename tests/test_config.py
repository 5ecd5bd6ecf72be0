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


# -- secrets from the environment ----------------------------------------------------------

SECRET = "hunter2-s3cret-pw"


def test_env_references_expand_with_defaults_and_escapes(tmp_path: Path) -> None:
    from feedhub.config import parse_config

    text = """\
site:
  title: "${FH_TITLE}"
  base_url: "${FH_BASE:-https://news.example/}"
  author: "${FH_EMPTY:-desk} costs $$5, literally $${FH_TITLE}"
store: {url: "postgresql://feedhub:${FH_PW}@db.example/feedhub"}
"""
    env = {"FH_TITLE": "Night desk", "FH_EMPTY": "", "FH_PW": SECRET}
    cfg = parse_config(text, tmp_path / "feedhub.yaml", env=env)
    assert cfg.file.site.title == "Night desk"
    assert cfg.file.site.base_url == "https://news.example/"  # unset: the default
    assert cfg.file.site.author == "desk costs $$5, literally ${FH_TITLE}"  # empty: default
    assert cfg.store_url == f"postgresql://feedhub:{SECRET}@db.example/feedhub"


def test_env_store_path_resolves_against_the_config_folder(tmp_path: Path, cli) -> None:
    path = write(tmp_path, "store: ${FH_STORE:-data/feedhub.db}\nsources: []\n")
    assert load_config(path).store_url == f"sqlite:///{tmp_path}/data/feedhub.db"
    r = cli("-c", str(path), "sources", env={"FH_STORE": "other/x.db"})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "other" / "x.db").exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("${FH_UNSET_PW}", "environment variable FH_UNSET_PW is not set"),
        ("${FH PW}", "invalid reference '${FH PW}': use ${NAME} or ${NAME:-default}"),
        ("${FH_PW", "unclosed '${' (write '$${' for a literal '${')"),
    ],
)
def test_bad_env_reference_is_exit_2_with_file_line_and_key(
    tmp_path: Path, cli, value: str, message: str
) -> None:
    path = write(tmp_path, f'sources: []\nstore:\n  url: "postgresql://u:{value}@h/db"\n')
    r = cli("-c", str(path), "check")
    assert r.returncode == 2
    assert r.stderr.splitlines() == [f"{path}:3:3: store.url: {message}"]


def test_secrets_never_reach_output_logs_or_errors(tmp_path: Path, cli) -> None:
    env = {"FH_PW": SECRET, "FH_BASE": f"ftp://{SECRET}.example/"}
    good = write(
        tmp_path,
        'site: {title: "${FH_PW:-x} desk"}\n'
        'store: {url: "postgresql://feedhub:${FH_PW}@127.0.0.1:1/feedhub"}\n'
        "sources: []\n",
    )
    runs = {
        "check": cli("-c", str(good), "-v", "check", env=env),
        # Nothing listens on port 1: each command fails to open the store, and says so.
        "sources": cli("-c", str(good), "sources", env=env),
        "publish": cli("-c", str(good), "publish", env=env),
        "run": cli("-c", str(good), "run", "--once", env=env, timeout=60),
    }
    assert runs["check"].returncode == 0, runs["check"].stderr
    for name in ("sources", "publish", "run"):
        r = runs[name]
        assert r.returncode == 1, (name, r.stderr)
        assert "postgresql://feedhub:***@127.0.0.1:1/feedhub" in r.stderr, (name, r.stderr)
    # A bad value that came from the environment is shown as its reference.
    bad = write(tmp_path, 'site: {base_url: "${FH_BASE}"}\n')
    r = cli("-c", str(bad), "check", env=env)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        f"{bad}:1:8: site.base_url: base_url must be an absolute http(s) URL, got '${{FH_BASE}}'"
    ]
    runs["bad"] = r
    for name, r in runs.items():
        assert SECRET not in r.stdout + r.stderr, name
        assert "Traceback" not in r.stderr, name


# -- every config error path: exit 2, the exact lines, no traceback -------------------------

BAD_CONFIGS: list[tuple[str, str | bytes | None, list[str]]] = [
    (
        "yaml-syntax",
        "sources:\n  - name: [unclosed\n",
        [
            "{p}:2:11: invalid YAML: expected ',' or ']', but got '<stream end>' (line 3, "
            "column 1) in the flow sequence that starts here"
        ],
    ),
    (
        "tab-indent",
        "site:\n\ttitle: x\n",
        [
            "{p}:2:1: invalid YAML: found character '\\t' that cannot start any token "
            "(indent with spaces, not tabs)"
        ],
    ),
    (
        "two-documents",
        "site: {title: a}\n---\nsite: {title: b}\n",
        [
            "{p}:2:1: invalid YAML: expected a single document in the stream, "
            "but found another document"
        ],
    ),
    (
        "unsafe-tag",
        "site: !!python/object:os.system {}\n",
        [
            "{p}:1:7: invalid YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object:os.system'"
        ],
    ),
    (
        "bad-tagged-value",
        "fetch: {concurrency: !!int abc}\n",
        ["{p}: invalid YAML: invalid literal for int() with base 10: 'abc'"],
    ),
    (
        "list-top-level",
        "- a\n- b\n",
        ["{p}:1:1: the config must be a mapping of keys (site, sources, …)"],
    ),
    (
        "scalar-top-level",
        "just text\n",
        ["{p}:1:1: the config must be a mapping of keys (site, sources, …)"],
    ),
    ("empty-file", "", ["{p}:1:1: the config file is empty (expected sources, topics…)"]),
    (
        "only-comments",
        "# todo\n",
        ["{p}:1:1: the config file is empty (expected sources, topics…)"],
    ),
    ("not-utf8", b"site: {title: caf\xe9}\n", ["{p}:1:18: not UTF-8 text (byte 0xe9)"]),
    (
        "unknown-key",
        "site: {title: x}\nsitee: {}\n",
        ["{p}:2:1: sitee: unknown key (did you mean 'site'?)"],
    ),
    (
        "unknown-nested-key",
        "fetch:\n  timout: 5s\n",
        ["{p}:2:3: fetch.timout: unknown key (did you mean 'timeout'?)"],
    ),
    ("duplicate-key", "site: {title: a}\nsite: {title: b}\n", ["{p}:2:1: site: duplicate key"]),
    (
        "wrong-type-int",
        "fetch:\n  concurrency: many\n",
        ["{p}:2:3: fetch.concurrency: expected a whole number (got 'many')"],
    ),
    (
        "wrong-type-bool",
        "sources:\n  - name: a\n    url: https://a.example/\n    enabled: maybe\n",
        ["{p}:4:5: sources[0].enabled: expected true or false (got 'maybe')"],
    ),
    (
        "mapping-expected",
        "site: [a, b]\n",
        ["{p}:1:1: site: expected a mapping of keys (got ['a', 'b'])"],
    ),
    (
        "list-expected",
        "sources: {name: a}\n",
        ["{p}:1:1: sources: expected a list (got {'name': 'a'})"],
    ),
    (
        "out-of-range",
        "server: {port: 70000}\noutput: {entries_per_feed: 0}\n",
        [
            "{p}:1:10: server.port: must be at most 65535 (got 70000)",
            "{p}:2:10: output.entries_per_feed: must be at least 1 (got 0)",
        ],
    ),
    (
        "missing-required",
        "sources:\n  - url: https://a.example/\ntopics:\n  - name: t\n",
        [
            "{p}:2:5: sources[0].name: missing required key",
            "{p}:4:5: topics[0].title: missing required key",
        ],
    ),
    (
        "duplicate-names",
        "sources:\n  - {name: a, url: 'https://a.example/'}\n  - {name: a, url: 'https://b.example/'}\n",
        ["{p}:3:6: sources[1].name: duplicate source name 'a' (first at sources[0])"],
    ),
    (
        "bad-name",
        "sources:\n  - name: Bad Name\n    url: https://a.example/\n",
        [
            "{p}:2:5: sources[0].name: invalid name 'Bad Name': use lowercase letters, digits, "
            "'-' or '_' (at most 64 characters)"
        ],
    ),
    (
        "bad-url-scheme",
        "sources:\n  - name: a\n    url: ftp://a.example/feed\n",
        [
            "{p}:3:5: sources[0].url: unsupported URL scheme 'ftp' in 'ftp://a.example/feed': "
            "use http://, https://, file:// or a path"
        ],
    ),
    (
        "url-without-host",
        "sources:\n  - name: a\n    url: 'http://'\n",
        ["{p}:3:5: sources[0].url: URL 'http://' has no host"],
    ),
    (
        "bad-base-url",
        "site:\n  base_url: example.org\n",
        ["{p}:2:3: site.base_url: base_url must be an absolute http(s) URL, got 'example.org'"],
    ),
    (
        "bad-store-url",
        "store: {url: 'mysql://u:pw@h/db'}\n",
        [
            "{p}:1:9: store.url: unsupported store URL 'mysql://u:***@h/db': use a SQLite path or postgresql://"
        ],
    ),
    (
        "bad-duration",
        "schedule:\n  interval: soon\n",
        ["{p}:2:3: schedule.interval: invalid duration 'soon' (use e.g. 90s, 15m, 2h, 7d)"],
    ),
    (
        "bad-size",
        "fetch:\n  max_bytes: huge\n",
        ["{p}:2:3: fetch.max_bytes: invalid size 'huge' (use e.g. 512KB, 10MB)"],
    ),
    (
        "bad-percentage",
        "schedule:\n  jitter: 150%\n",
        ["{p}:2:3: schedule.jitter: percentage must be between 0% and 100%, got '150%'"],
    ),
    (
        "bad-regex",
        "topics:\n  - name: t\n    title: T\n    regex: '(unclosed'\n",
        [
            "{p}:4:5: topics[0].regex: invalid regular expression: missing ), unterminated "
            "subpattern at position 0"
        ],
    ),
    (
        "topic-unknown-source",
        "topics:\n  - name: t\n    title: T\n    sources: [ghost]\n",
        ["{p}:4:15: topics[0].sources[0]: unknown source 'ghost'"],
    ),
    (
        "source-unknown-topic",
        "sources:\n  - name: a\n    url: https://a.example/\n    topics: [ghost]\n",
        ["{p}:4:14: sources[0].topics[0]: unknown topic 'ghost'"],
    ),
    (
        "nul-in-path",
        'output: {dir: "a\\0b"}\n',
        ["{p}:1:10: output.dir: cannot use path '{d}/a\\x00b': embedded null byte"],
    ),
    (
        "missing-env",
        "store: ${FH_NOT_SET}\n",
        ["{p}:1:1: store: environment variable FH_NOT_SET is not set"],
    ),
    ("missing-file", None, ["{p}: cannot read config: No such file or directory"]),
    ("directory", "<dir>", ["{p}: cannot read config: Is a directory"]),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS]
)
def test_every_config_error_is_exit_2_and_exact_lines(
    tmp_path: Path, cli, text: str | bytes | None, expected: list[str]
) -> None:
    path = tmp_path / "feedhub.yaml"
    if text == "<dir>":
        path.mkdir()
    elif isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text, encoding="utf-8")
    r = cli("-c", str(path), "check")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.splitlines() == [
        line.replace("{p}", str(path)).replace("{d}", str(tmp_path)) for line in expected
    ]
    assert r.stdout == ""


def test_imported_url_with_a_dollar_brace_stays_literal(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from feedhub.config import parse_config
    from feedhub.config.edit import add_sources

    path = write(tmp_path, "site: {title: x}\n")
    feed = SimpleNamespace(title="Odd", url="https://odd.example/feed?q=${HOME}")
    text, added = add_sources(path.read_text(), [feed], load_config(path))
    assert added == ["odd"]
    assert parse_config(text, path).sources[0].url == "https://odd.example/feed?q=${HOME}"


def test_yaml_aliases_work_but_an_alias_bomb_is_refused_at_once(tmp_path: Path, cli) -> None:
    ok = write(tmp_path, (
        "fetch: &f {timeout: 10s}\n"
        "sources:\n"
        "  - {name: a, url: 'https://a.example/feed', topics: &t [sahel]}\n"
        "  - {name: b, url: 'https://b.example/feed', topics: *t}\n"
        "topics:\n  - {name: sahel, title: Sahel, keywords: [Niger]}\n"
    ))
    cfg = load_config(ok)
    assert [s.topics for s in cfg.sources] == [("sahel",), ("sahel",)]
    levels = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(levels) + "\nsources: []\n")  # 9^9 ≈ 387 million strings
    r = cli("-c", str(bomb), "check", timeout=30)
    assert r.returncode == 2
    assert r.stderr.strip() == (
        f"{bomb}: the config expands to more than 1,000,000 values "
        "(YAML aliases that repeat each other?)"
    )


# -- feedhub check: everything at once, and what only the file system can tell ------------


def test_check_lists_every_problem_in_one_run_in_file_order(tmp_path: Path, cli) -> None:
    path = write(
        tmp_path,
        """\
schedule:
  interval: soon
sources:
  - name: wire
    url: https://a.example/rss
    intervall: 5m
    topics: [sahal]
topics:
  - {name: sahel, title: Sahel, sources: [wire, ghost]}
output: {dir: out, entries_per_feed: 0}
""",
    )
    r = cli("-c", str(path), "check")
    assert r.returncode == 2
    # A bad duration used to stop validation before the references were looked at.
    assert r.stderr.splitlines() == [
        f"{path}:2:3: schedule.interval: invalid duration 'soon' (use e.g. 90s, 15m, 2h, 7d)",
        f"{path}:6:5: sources[0].intervall: unknown key (did you mean 'interval'?)",
        f"{path}:7:14: sources[0].topics[0]: unknown topic 'sahal' (did you mean 'sahel'?)",
        f"{path}:9:49: topics[0].sources[1]: unknown source 'ghost'",
        f"{path}:10:20: output.entries_per_feed: must be at least 1 (got 0)",
    ]
    assert r.stdout == ""


def test_unknown_key_hint_only_when_a_key_is_close(tmp_path: Path) -> None:
    path = write(tmp_path, "fetch:\n  concurency: 3\n  colour: blue\nretention: {maxage: 9d}\n")
    assert problems(path) == [
        f"{path}:2:3: fetch.concurency: unknown key (did you mean 'concurrency'?)",
        f"{path}:3:3: fetch.colour: unknown key",
        f"{path}:4:13: retention.maxage: unknown key (did you mean 'max_age'?)",
    ]


def test_yaml_error_points_at_the_line_where_the_unclosed_construct_opened(
    tmp_path: Path,
) -> None:
    # The parser only notices at line 8 (a key inside what it still reads as the list);
    # the mistake is the '[' on line 3.
    text = (
        "sources:\n  - name: wire\n    topics: [sahel, niger\n    url: https://a.example/\n"
        "  - name: b\n    url: https://b.example/\n"
        "topics:\n  - {name: sahel, title: Sahel}\n"
    )
    (line,) = problems(write(tmp_path, text))
    assert line.startswith(f"{tmp_path / 'feedhub.yaml'}:3:13: invalid YAML: ")
    assert line.endswith("(line 4, column 8) in the flow sequence that starts here")
    quoted = write(tmp_path, "site:\n  title: 'Night desk\n  author: me\n")
    (line,) = problems(quoted)
    assert line == (
        f"{quoted}:2:10: invalid YAML: found unexpected end of stream (line 4, column 1) "
        "in the quoted scalar that starts here"
    )


def test_check_reports_missing_local_sources_but_loading_does_not(tmp_path: Path, cli) -> None:
    (tmp_path / "here.xml").write_text("<rss/>")
    path = write(
        tmp_path,
        """\
sources:
  - {name: here, url: here.xml}
  - {name: gone, url: gone.xml}
  - {name: folder, url: "articles/"}
  - {name: old, url: old.xml, enabled: false}
  - {name: web, url: "https://a.example/"}
""",
    )
    r = cli("-c", str(path), "check")
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        f"{path}:3:18: sources[1].url: no such file or folder: {tmp_path / 'gone.xml'}",
        f"{path}:4:20: sources[2].url: no such folder: {tmp_path / 'articles'}",
    ]
    # Every other command loads the config: a missing file is that source's fetch error.
    assert [s.name for s in load_config(path).sources] == ["here", "gone", "folder", "old", "web"]
    (tmp_path / "gone.xml").write_text("<rss/>")
    (tmp_path / "articles").mkdir()
    r = cli("-c", str(path), "check")
    assert r.returncode == 0, r.stderr


def test_check_reports_output_and_store_folders_that_cannot_be_written(
    tmp_path: Path, cli
) -> None:
    # Tests run as root, which writes through any permission bits: a folder below a
    # regular file cannot be made by anyone, root included (ENOTDIR).
    (tmp_path / "plain").write_text("a file, not a folder\n")
    path = write(tmp_path, "store: plain/data/feedhub.db\noutput: {dir: plain/feeds}\n")
    r = cli("-c", str(path), "check")
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        f"{path}:1:1: store: cannot write the store {tmp_path}/plain/data/feedhub.db: "
        f"{tmp_path}/plain is a file, not a folder",
        f"{path}:2:10: output.dir: cannot write to {tmp_path}/plain/feeds: "
        f"{tmp_path}/plain is a file, not a folder",
    ]
    # What check predicted is what happens: publishing there fails.
    assert cli("-c", str(path), "publish").returncode != 0
    folder = write(tmp_path, "store: {url: 'sqlite:///" + str(tmp_path) + "'}\nsources: []\n")
    assert problems_with_files(folder) == [
        f"{folder}:1:9: store.url: the store {tmp_path} is a folder, not a SQLite file"
    ]
    # Folders that do not exist yet are fine: publishing and the store create them.
    ok = write(tmp_path, "store: new/data/feedhub.db\noutput: {dir: new/feeds}\n")
    assert load_config(ok, check_files=True).output_dir == tmp_path / "new" / "feeds"


def problems_with_files(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, check_files=True)
    return info.value.problems


def test_a_bad_env_reference_is_reported_once_beside_other_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "schedule:\n  interval: ${FH_UNSET_IV}\nfetch: {timeout: soon}\n")
    assert problems(path) == [
        f"{path}:2:3: schedule.interval: environment variable FH_UNSET_IV is not set",
        f"{path}:3:9: fetch.timeout: invalid duration 'soon' (use e.g. 90s, 15m, 2h, 7d)",
    ]
