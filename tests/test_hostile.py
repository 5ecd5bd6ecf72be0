"""Hostile servers end to end (issue 6, item 1): every trick at once, beside one good source.

Real servers on 127.0.0.1 serve a gzip bomb, an endless body, a trickle, redirect loops
and chains, oversized headers, things that are not feeds, entity bombs, XXE, broken
encodings and a 100,000-entry feed, all as sources of one config. The real ``feedhub
fetch`` (and ``feedhub run``) must end each one as a one-line error or a bounded partial
ingest on that source alone, within generous time and memory bounds, and go on: the good
source's articles are stored and published.

The unit-level behaviour of each limit is tested in test_fetch_http.py and
test_parse_robustness.py; here they are proven to hold together, through the CLI.
"""

from __future__ import annotations

import os
import secrets
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from feedhub.config import load_config
from feedhub.model import SourceInfo
from feedhub.store import Store
from feedhub.store.schema import articles, sources
from feedhub.store.sources import source_infos
from tests.conftest import REPO
from tests.support.httpserver import HttpServer, Reply, redirect
from tests.support.service import Service, free_port

pytestmark = pytest.mark.slow

FEEDS = Path(__file__).parent / "data" / "feeds"
MAX_ENTRIES = 2_000  # the default fetch.max_entries
BIG_ENTRIES = 100_000
# Generous bounds (the machine may be busy): the point is "bounded", not "fast".
FETCH_DEADLINE = 600.0  # seconds for the whole `feedhub fetch --publish`: a hang guard
MEMORY_BOUND = 1024**3  # peak RSS of the command and its parse workers


def gzip_bomb(size: int, segment: int = 1 << 20) -> bytes:
    """``size`` bytes of zeros as a valid gzip stream (~1,000:1), built in well under a second.

    One segment of zeros is deflated once, ending in a full flush so that it refers to
    nothing before it, and repeated; the gzip header, a final empty block and the trailer
    (CRC-32, length) go around it by hand. Compressing a gigabyte for real takes seconds.
    """
    zeros = bytes(segment)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    count = size // segment
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # gzip, deflate, no name, Unix
    final = b"\x03\x00"  # an empty final block (fixed Huffman): the stream ends
    return header + block * count + final + struct.pack("<II", crc, segment * count % 2**32)


def rss(title: str, items: str, encoding: str = "utf-8", doctype: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n{doctype}'
        f'<rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://{title.lower()}.example/</link>{items}</channel></rss>"
    ).encode()


GOOD_TITLES = ("Harvest festival opens in Kayes", "Rail link to Dakar reopens",
               "Solar farm powers Ouagadougou suburbs")
GOOD = rss("Good", "".join(
    f"<item><title>{t}</title><link>https://good.example/{i}</link><guid>good-{i}</guid>"
    f"<description>{t}: the full story, told at length by the good source.</description>"
    "<pubDate>Mon, 01 Apr 2024 10:00:00 GMT</pubDate></item>"
    for i, t in enumerate(GOOD_TITLES)
))


def billion_laughs() -> bytes:
    """The classic: ten levels of ten references each, 10⁹ "lol"s (3 GB) once expanded."""
    levels = ['<!ENTITY lol0 "lol">']
    levels += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return rss(
        "Laughs",
        "<item><title>Laugh &lol9;</title><guid>laugh-1</guid>"
        "<description>&lol9;</description></item>",
        doctype="<!DOCTYPE rss [\n" + "\n".join(levels) + "\n]>\n",
    )


@dataclass(frozen=True)
class Leakable:
    """What an XXE would leak: a canary file, a canary DTD and the first line of /etc/passwd."""

    canary: Path
    dtd: Path
    tokens: tuple[str, ...]


def xxe_feed(s: Leakable) -> bytes:
    return rss(
        "Xxe",
        "<item><title>Leak &canary; &passwd; &dtdleak;</title><guid>xxe-1</guid>"
        "<description>&canary; &passwd; &dtdleak;</description></item>",
        doctype=(
            "<!DOCTYPE rss [\n"
            f'<!ENTITY canary SYSTEM "file://{s.canary}">\n'
            '<!ENTITY passwd SYSTEM "file:///etc/passwd">\n'
            f'<!ENTITY % remote SYSTEM "file://{s.dtd}">\n%remote;\n'
            "]>\n"
        ),
    )


def big_feed() -> bytes:
    # As small as an RSS entry gets (~33 bytes): the identity is a hash of the title.
    return rss("Big", "".join(f"<item><title>b{i}</title></item>" for i in range(BIG_ENTRIES)))


# Each hostile source and the one-line error it must end with (a substring of it).
ERRORS = {
    "gzip-bomb": "response body exceeds 4 MB limit",
    "endless": "response body exceeds 4 MB limit",
    "trickle": "timed out after 3 s",
    "redirect-loop": "redirect loop: ",
    "redirect-chain": "too many redirects (more than 5)",
    "huge-header": "invalid HTTP response: Got more than 8190 bytes",
    "many-headers": "invalid HTTP response: Too many headers",
    "html": "not a feed: an HTML page",
    "image": "not a feed: a PNG image",
    "empty": "not a feed: empty body",
}
# Each source that must be a (bounded) ingest, and how many articles it keeps.
INGESTED = {
    "good": 3,
    "laughs": 1,
    "xxe": 1,
    "invalid-utf8": 1,
    "wrong-encoding": 1,
    "big": MAX_ENTRIES,
}


def serve_hostile(srv: HttpServer, leakable: Leakable) -> dict[str, str]:
    """Program every case on ``srv``; returns source name → URL."""
    rss_type = {"Content-Type": "application/rss+xml; charset=utf-8"}
    srv.route("/good", Reply(body=GOOD, headers=rss_type))
    srv.route("/gzip-bomb", Reply(body=gzip_bomb(1024**3), headers={
        **rss_type, "Content-Encoding": "gzip"}, chunked=True, chunk_size=64 * 1024))
    srv.route("/endless", Reply(
        body=b'<rss version="2.0"><channel><item><title>' + b"a" * 65536,
        headers=rss_type, chunked=True, endless=True,
    ))
    srv.route("/trickle", Reply(body=GOOD, headers=rss_type, chunk_size=1, trickle=1.0))
    srv.route("/loop-a", redirect("/loop-b", 301))
    srv.route("/loop-b", redirect("/loop-a", 302))
    for i in range(20):
        srv.route(f"/hop{i}", redirect(f"/hop{i + 1}" if i < 19 else "/good"))
    srv.route("/huge-header", Reply(body=GOOD, headers={**rss_type, "X-Huge": "h" * 100_000}))
    srv.route("/many-headers", Reply(body=GOOD, headers={
        **rss_type, **{f"X-Header-{i}": "v" for i in range(5_000)}}))
    srv.route("/html", Reply(body=(FEEDS / "page.html").read_bytes(),
                             headers={"Content-Type": "text/html; charset=utf-8"}))
    srv.route("/image", Reply(body=(FEEDS / "pixel.png").read_bytes(), headers=rss_type))
    srv.route("/empty", Reply(body=b"", headers={"Content-Type": "application/atom+xml"}))
    srv.route("/laughs", Reply(body=billion_laughs(), headers=rss_type))
    srv.route("/xxe", Reply(body=xxe_feed(leakable), headers=rss_type))
    # Declared UTF-8, with bytes that are not: a lone 0xFF 0xFE and a broken sequence.
    broken = rss("Broken", "<item><title>CAFE news</title><guid>utf8-1</guid></item>")
    srv.route("/invalid-utf8", Reply(
        body=broken.replace(b"CAFE", b"caf\xff\xfe\xc3\x28"), headers=rss_type
    ))
    # UTF-8 bytes declared as UTF-16, in the XML declaration and in the HTTP header.
    srv.route("/wrong-encoding", Reply(
        body=rss("Greek", "<item><title>Ελληνικά νέα €</title><guid>greek-1</guid></item>",
                 encoding="utf-16"),
        headers={"Content-Type": "application/rss+xml; charset=utf-16"},
    ))
    srv.route("/big", Reply(body=big_feed(), headers=rss_type))
    paths = {name: f"/{name}" for name in (*ERRORS, *INGESTED)}
    paths |= {"redirect-loop": "/loop-a", "redirect-chain": "/hop0"}
    return {name: srv.url(path) for name, path in paths.items()}


def write_config(folder: Path, urls: dict[str, str], port: int) -> Path:
    lines = [
        f"site: {{base_url: 'http://127.0.0.1:{port}/'}}",
        "store: data/feedhub.db",
        "output: {dir: feeds}",
        f"server: {{host: 127.0.0.1, port: {port}}}",
        # 4 MB, not less: the 100,000-entry feed (3.3 MB) must get past the body cap to
        # reach the entry cap. per_host is raised so that all of them are fetched at once.
        "fetch: {timeout: 3s, connect_timeout: 2s, max_bytes: 4MB, per_host: 20}",
        "schedule: {interval: 1h, jitter: 0%}",
        "sources:",
        *(f"  - {{name: {name}, url: '{url}'}}" for name, url in urls.items()),
        "topics:",
        "  - {name: news, title: News, sources: [good, laughs, xxe, invalid-utf8, wrong-encoding]}",
    ]
    path = folder / "feedhub.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def leakable(tmp_path: Path) -> Leakable:
    token = secrets.token_hex(8)
    canary = tmp_path / "canary.txt"
    canary.write_text(f"XXE-FILE-CANARY-{token}\n")
    dtd = tmp_path / "canary.dtd"
    dtd.write_text(f'<!ENTITY dtdleak "XXE-DTD-CANARY-{token}">\n')
    tokens = [f"XXE-FILE-CANARY-{token}", f"XXE-DTD-CANARY-{token}"]
    passwd = Path("/etc/passwd")
    if passwd.exists() and passwd.read_text(errors="replace").strip():
        tokens.append(passwd.read_text(errors="replace").splitlines()[0])  # "root:x:0:0:…"
    return Leakable(canary, dtd, tuple(tokens))


@pytest.fixture
def hostile(tmp_path: Path, leakable: Leakable) -> Iterator[tuple[Path, int]]:
    """The config of every hostile source plus the good one, and the port to serve on."""
    with HttpServer() as srv:
        port = free_port()
        yield write_config(tmp_path, serve_hostile(srv, leakable), port), port


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str
    max_rss: int  # bytes: the peak of the process and every descendant it waited for
    seconds: float


def run_measured(config: Path, *args: str, deadline: float) -> Finished:
    """``python -m feedhub -c CONFIG ARGS`` with its peak memory, from ``wait4``.

    ``wait4`` reports the child's own peak and that of the children it waited for (the
    parse workers), so other tests' subprocesses cannot blur the figure.
    """
    out, err = config.parent / "stdout.txt", config.parent / "stderr.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    env.pop("FEEDHUB_CONFIG", None)
    started = time.monotonic()
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "feedhub", "-c", str(config), *args],
            cwd=config.parent, env=env, stdout=o, stderr=e,
        )
    killer = threading.Timer(deadline, proc.kill)
    killer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    seconds = time.monotonic() - started
    assert seconds < deadline, f"killed after {deadline:g} s:\n{err.read_text()}"
    return Finished(proc.returncode, out.read_text(), err.read_text(),
                    usage.ru_maxrss * 1024, seconds)


def stored(config: Path) -> tuple[dict[str, SourceInfo], dict[str, list[str]]]:
    """The store's sources by name, and each source's stored article titles."""
    store = Store.open(load_config(config).store_url)
    try:
        with store.read() as conn:
            infos = {i.name: i for i in source_infos(conn)}
            titles: dict[str, list[str]] = {}
            rows = conn.execute(select(sources.c.name, articles.c.title).join(sources))
            for name, title in rows:
                titles.setdefault(name, []).append(title)
    finally:
        store.close()
    return infos, titles


def assert_nothing_leaked(folder: Path, leakable: Leakable) -> None:
    """No XXE secret in any file the run wrote: the store (and its WAL) and the output."""
    written = [p for p in (folder / "data").rglob("*") if p.is_file()]
    written += [p for p in (folder / "feeds").rglob("*") if p.is_file()]
    assert written
    for path in written:
        data = path.read_bytes()
        for token in leakable.tokens:
            assert token.encode() not in data, f"{token!r} leaked into {path}"


def assert_outcomes(config: Path) -> None:
    """Every source ended as planned, in the store: errors on their sources, ingests capped."""
    infos, titles = stored(config)
    assert set(infos) == set(ERRORS) | set(INGESTED)
    for name, expected in ERRORS.items():
        info = infos[name]
        assert info.last_error is not None and expected in info.last_error, (name, info)
        assert "\n" not in info.last_error and len(info.last_error) <= 500
        assert info.article_count == 0 and name not in titles
    for name, count in INGESTED.items():
        assert infos[name].last_error is None, (name, infos[name].last_error)
        assert len(titles.get(name, ())) == count, name
    assert sorted(titles["good"]) == sorted(GOOD_TITLES)
    # No entity bomb went off, and the largest feed kept its first (newest) entries.
    assert all("lollollol" not in t for t in titles["laughs"])
    assert {f"b{i}" for i in range(MAX_ENTRIES)} == set(titles["big"])
    assert titles["wrong-encoding"] == ["Ελληνικά νέα €"]
    assert titles["invalid-utf8"] == ["cafÿþÃ( news"]  # read as windows-1252


def test_fetch_survives_every_hostile_server(hostile: tuple[Path, int], leakable: Leakable) -> None:
    config, _ = hostile
    done = run_measured(config, "fetch", "--publish", deadline=FETCH_DEADLINE)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output
    assert done.max_rss < MEMORY_BOUND, f"peak RSS {done.max_rss / 2**20:.0f} MB"
    # One line per failed source on stderr, named, and the cap's one-line warning.
    for name, expected in ERRORS.items():
        (line,) = [ln for ln in done.stderr.splitlines() if ln.startswith(f"{name}: ")]
        assert expected in line
    assert f"big: kept the newest {MAX_ENTRIES} of {BIG_ENTRIES} entries" in done.stderr
    assert f"fetched {len(ERRORS) + len(INGESTED)} sources" in done.stdout
    assert f"{len(ERRORS)} failed" in done.stdout
    assert_outcomes(config)
    published = (config.parent / "feeds" / "news.atom").read_text()
    assert all(title in published for title in GOOD_TITLES)
    assert_nothing_leaked(config.parent, leakable)


def test_service_stays_up_among_hostile_servers(
    hostile: tuple[Path, int], leakable: Leakable
) -> None:
    config, port = hostile
    svc = Service(config, port)
    try:
        feed = config.parent / "feeds" / "news.atom"

        up = False

        def healthy() -> None:
            nonlocal up
            health = svc.get("/healthz")  # None: no answer within 5 s, or not listening
            assert health is not None or not up, "/healthz stopped answering"
            if health is not None:
                assert health[0] == 200
                up = True

        def published() -> bool:
            healthy()
            return feed.exists() and GOOD_TITLES[0] in feed.read_text()

        def all_fetched() -> bool:
            # Polled while the 100,000-entry feed is parsed: /healthz must keep answering.
            healthy()
            infos, _ = stored(config)
            return len(infos) == len(ERRORS) + len(INGESTED) and all(
                i.last_fetch is not None for i in infos.values()
            )

        svc.wait_for("the good source published", published, timeout=120)
        svc.wait_for("every source fetched once", all_fetched, timeout=180)
        health = svc.get("/healthz")
        assert health is not None and health[0] == 200
        served = svc.get("/news.atom")
        assert served is not None and served[0] == 200 and GOOD_TITLES[0].encode() in served[2]
        assert svc.stop() == 0
    finally:
        svc.kill()
    assert "Traceback" not in svc.log()
    assert_outcomes(config)
    assert_nothing_leaked(config.parent, leakable)
