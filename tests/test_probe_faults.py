"""The faults an outside probe found in the running service (issue 19), each against a real
``feedhub run`` or ``feedhub`` CLI subprocess and real sockets on 127.0.0.1.

Every wait is a poll with a deadline; no assertion depends on how fast the machine is.
"""

from __future__ import annotations

import shutil
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from itertools import count
from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import REPO, run_cli
from tests.support.httpserver import HttpServer, Reply, SeenRequest
from tests.support.service import Feeds, Service, free_port

pytestmark = pytest.mark.slow
ATOM = "{http://www.w3.org/2005/Atom}"


def config_text(port: int, sources: dict[str, str], *extra: str, per_feed: int = 50) -> str:
    return "\n".join([
        f"site: {{base_url: 'http://127.0.0.1:{port}/', title: Probe}}",
        "store: data/feedhub.db",
        f"output: {{dir: feeds, entries_per_feed: {per_feed}}}",
        f"server: {{host: 127.0.0.1, port: {port}{''.join(', ' + e for e in extra)}}}",
        "schedule: {interval: 1s, jitter: 0%}",
        "fetch: {timeout: 5s}",
        "sources:",
        *(f"  - {{name: {n}, url: '{u}', topics: [news]}}" for n, u in sources.items()),
        "topics:",
        "  - {name: news, title: News, keywords: [nothing-matches-this]}",
        "",
    ])


def alpha_service(tmp_path: Path, feeds: Feeds, start: Callable[..., Service],
                  *server_extra: str) -> Service:
    """A ready service with one source, "alpha", holding one entry ("Alpha one")."""
    port = free_port()
    config = tmp_path / "feedhub.yaml"
    config.write_text(config_text(port, {"alpha": feeds.add("alpha", "Alpha one")},
                                  *server_extra))
    svc = start(config, port)
    svc.ready()
    return svc


def served(svc: Service, path: str, needle: bytes) -> Callable[[], bool]:
    def check() -> bool:
        r = svc.get(path)
        return r is not None and r[0] == 200 and needle in r[2]

    return check


# -- 1. one config at a time ------------------------------------------------------------


def test_publish_runs_on_the_accepted_config_not_the_file(
    tmp_path: Path, feeds: Feeds, start: Callable[..., Service]
) -> None:
    port = free_port()
    config = tmp_path / "feedhub.yaml"
    good = config_text(port, {"alpha": feeds.add("alpha", "Alpha one")})
    config.write_text(good)
    svc = start(config, port)
    svc.ready()
    svc.wait_for("first entry served", served(svc, "/news.atom", b"Alpha one"))

    # A rejected edit on disk: SIGHUP keeps the running config, and publishing too.
    config.write_text(good.replace("fetch: {timeout: 5s}", "fetch: {timeout: 5s, concurency: 3}"))
    svc.proc.send_signal(signal.SIGHUP)
    svc.wait_for("reload refused", lambda: "config reload failed" in svc.log())
    feeds.add("alpha", "Alpha two")
    svc.wait_for("entry published on the old config", served(svc, "/news.atom", b"Alpha two"))

    # A valid edit saved without SIGHUP is not picked up by publishing either.
    config.write_text(good.replace("title: News", "title: Renamed"))
    feeds.add("alpha", "Alpha three")
    svc.wait_for("third entry published", served(svc, "/news.atom", b"Alpha three"))
    r = svc.get("/news.atom")
    assert r is not None and b"<title>News</title>" in r[2] and b"Renamed" not in r[2]
    assert "publish failed" not in svc.log()

    # SIGHUP then takes the edit, for fetching and publishing alike.
    svc.proc.send_signal(signal.SIGHUP)
    svc.wait_for("renamed topic published", served(svc, "/news.atom", b"<title>Renamed</title>"))


# -- 2 and 3. hostile connections -------------------------------------------------------


def raw_exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def test_malformed_requests_log_one_short_line_and_no_traceback(
    tmp_path: Path, feeds: Feeds, start: Callable[..., Service]
) -> None:
    svc = alpha_service(tmp_path, feeds, start)
    port = svc.port
    before = svc.log().count("\n")
    for i in range(200):
        bad = [b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", b"\x16\x03\x01garbage\r\n\r\n",
               b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"][i % 3]
        assert raw_exchange(port, bad).split(b"\r\n", 1)[0].endswith(b" 400 Bad Request")
    svc.wait_for("a line about bad requests", lambda: "bad request from 127.0.0.1" in svc.log())
    assert svc.get("/healthz") is not None  # the service is fine, and the log is flushed
    new_lines = svc.log().splitlines()[before:]
    about = [ln for ln in new_lines if "bad request" in ln]
    assert len(about) == 1 and len(about[0]) < 300, about
    assert " INFO " in about[0]
    text = "\n".join(new_lines)
    assert "Traceback" not in text and "ERROR" not in text and "LineTooLong" not in text


class SlowClient(threading.Thread):
    """Sends a request head one byte every ``gap`` seconds until the server hangs up."""

    def __init__(self, port: int, gap: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.gap = gap
        self.cut = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        head = b"GET /news.atom HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 10_000
        try:
            for byte in head:
                self.sock.sendall(bytes([byte]))
                if self.stop.wait(self.gap):
                    return
        except OSError:
            self.cut.set()  # reset by the server
        finally:
            self.sock.close()


def test_slow_client_is_cut_off_while_healthy_clients_are_served(
    tmp_path: Path, feeds: Feeds, start: Callable[..., Service]
) -> None:
    svc = alpha_service(tmp_path, feeds, start, "read_timeout: 2s")
    port = svc.port
    slow = [SlowClient(port) for _ in range(5)]
    for c in slow:
        c.start()
    deadline = time.monotonic() + 60
    served_meanwhile = 0
    try:
        while not all(c.cut.is_set() or not c.is_alive() for c in slow):
            r = svc.get("/news.atom")
            assert r is not None and r[0] == 200
            served_meanwhile += 1
            assert time.monotonic() < deadline, "slow clients still connected after 60 s"
            time.sleep(0.1)
    finally:
        for c in slow:
            c.stop.set()
    assert all(c.cut.is_set() for c in slow)
    assert served_meanwhile >= 1
    assert "Traceback" not in svc.log()


PROBE = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def answered_200(port: int) -> bytes | None:
    """The reply to PROBE if it is a 200; None if refused (503, or a reset)."""
    try:
        out = raw_exchange(port, PROBE)
    except OSError:
        return None
    return out if out.startswith(b"HTTP/1.1 200") else None


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_at_the_connection_cap_idle_connections_make_room_for_healthy_ones(
    tmp_path: Path, feeds: Feeds, start: Callable[..., Service]
) -> None:
    svc = alpha_service(tmp_path, feeds, start, "read_timeout: 60s", "max_connections: 4")
    port = svc.port
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(4)]
    try:
        # A healthy request beyond the cap closes the oldest idle connection (once that is
        # half a second old) and is answered; then there is room again.
        for _ in range(8):
            r = svc.wait_for("a healthy request answered", lambda: answered_200(port))
            assert r.endswith(b"ok\n")
        idle[0].settimeout(5)
        assert closed_by_server(idle[0])  # the oldest made room
        idle[-1].settimeout(0.5)
        assert not closed_by_server(idle[-1])  # the youngest is still open
    finally:
        for s in idle:
            s.close()
    warnings = [ln for ln in svc.log().splitlines() if "connection limit reached" in ln]
    assert len(warnings) == 1, warnings
    assert "Traceback" not in svc.log()


def test_systemd_unit_raises_the_open_file_limit() -> None:
    unit = (REPO / "config" / "feedhub.service").read_text()
    assert any(ln.startswith("LimitNOFILE=") for ln in unit.splitlines())


# -- 4. a feed that reissues its items under new guids ----------------------------------


def test_guid_churning_feed_is_stored_once(
    tmp_path: Path, start: Callable[..., Service]
) -> None:
    fetches = count(1)

    def churn(_: SeenRequest) -> Reply:
        n = next(fetches)
        items = "".join(
            f"<item><title>Story {i}</title><link>https://example.org/story/{i}</link>"
            f"<guid isPermaLink='false'>fetch-{n}-item-{i}</guid>"
            f"<pubDate>Mon, 0{1 + i} Jan 2024 10:00:00 GMT</pubDate>"
            f"<description>Story {i} in full.</description></item>"
            for i in range(5)
        )
        body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Churn</title>'
                f"<link>https://example.org/</link>{items}</channel></rss>").encode()
        return Reply(body=body, headers={"Content-Type": "application/rss+xml"})

    with HttpServer() as server:
        server.route("/churn.xml", churn)
        port = free_port()
        config = tmp_path / "feedhub.yaml"
        config.write_text(config_text(port, {"churn": server.url("/churn.xml")}))
        svc = start(config, port)
        svc.ready()
        # Fetch n+1 starts only after fetch n is stored (the interval counts from then).
        svc.wait_for("six fetches", lambda: server.count("/churn.xml") >= 6)
    with sqlite3.connect(tmp_path / "data" / "feedhub.db") as db:
        assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == 5
    said = [ln for ln in svc.log().splitlines() if "under new guids" in ln]
    assert len(said) == 1, said
    # Published once the debounced publish after those fetches ran (a busy machine: later).
    r = svc.wait_for("the stories published", lambda: (
        (got := svc.get("/news.atom")) is not None and got[2].count(b"<entry>") >= 5 and got))
    assert r[2].count(b"<entry>") == 5


# -- 5. credentials in links -------------------------------------------------------------

SECRET_FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Leaky</title><link>https://leaky.example/</link>
<item><title>Niger junta closes the border with Benin</title>
<link>https://user:pass@example.com/secret</link><guid>a</guid>
<pubDate>Mon, 01 Jul 2024 10:00:00 GMT</pubDate>
<description><![CDATA[<p>Niger junta closes the border with Benin again.
<a href="https://bob:hunter2@example.org/p">more</a>
<img src="https://u:p@cdn.example/i.png"></p>]]></description></item>
<item><title>Niger junta keeps the border with Benin closed</title>
<link>https://example.com/other</link><guid>b</guid>
<pubDate>Tue, 02 Jul 2024 10:00:00 GMT</pubDate>
<description>Niger junta keeps the border with Benin closed, traders say.</description></item>
</channel></rss>
"""


def test_no_published_url_carries_userinfo(tmp_path: Path) -> None:
    (tmp_path / "leaky.xml").write_text(SECRET_FEED)
    config = tmp_path / "feedhub.yaml"
    config.write_text(config_text(free_port(), {"leaky": "leaky.xml"}).replace(
        "keywords: [nothing-matches-this]", "keywords: [niger]"
    ))
    r = run_cli("-c", str(config), "fetch", "--publish")
    assert r.returncode == 0, r.stderr
    published = b"".join(p.read_bytes() for p in (tmp_path / "feeds").rglob("*") if p.is_file())
    assert b"example.com/secret" in published and b"cdn.example/i.png" in published
    for secret in (b"user:pass", b"bob:hunter2", b"u:p@", b"pass@", b"hunter2"):
        assert secret not in published, secret
    # The Related News box of the other story links the first one, without credentials.
    feed = etree.parse(str(tmp_path / "feeds" / "news.atom")).getroot()
    related = [ln.get("href") for ln in feed.iter(f"{ATOM}link") if ln.get("rel") == "related"]
    assert "https://example.com/secret" in related


# -- 6. a deleted output folder ------------------------------------------------------------


def test_deleted_output_folder_is_rewritten_and_not_ready_meanwhile(
    tmp_path: Path, feeds: Feeds, start: Callable[..., Service]
) -> None:
    svc = alpha_service(tmp_path, feeds, start)
    svc.wait_for("entry served", served(svc, "/news.atom", b"Alpha one"))
    # That publish has ended (the start-up one, then the one with the entry): deleting
    # the folder under a running publish fails it, and a failed publish waits 30 s.
    svc.wait_for("the publish ended", lambda: svc.log().count("published 1 topics") >= 2)
    shutil.rmtree(tmp_path / "feeds")
    # A publish takes a child process well over the time of this request.
    r = svc.get("/readyz")
    assert r is not None and r[0] == 503 and b"published files missing" in r[2], r
    svc.wait_for("feed rewritten", served(svc, "/news.atom", b"Alpha one"))
    svc.ready()
    assert (tmp_path / "feeds" / "index.html").is_file()
    said = [ln for ln in svc.log().splitlines() if "published files missing" in ln]
    assert len(said) == 1, said
    # A trailing slash names a folder: news.atom/ is not the feed.
    assert svc.get("/news.atom/")[0] == 404  # type: ignore[index]
    assert svc.get("/news.atom")[0] == 200  # type: ignore[index]


# -- 7. RFC 5005: subscription document + archives hold every entry ---------------------


def monthly_feed(first: int, months: list[int], per_month: int = 4) -> str:
    items = []
    n = first
    names = {4: "Apr", 5: "May", 6: "Jun", 7: "Jul", 8: "Aug"}
    for month in months:
        for k in range(per_month):
            items.append(
                f"<item><title>Sahel story {n}</title><link>https://sahel.example/{n}</link>"
                f"<guid>s{n}</guid><pubDate>{3 + 7 * k:02d} {names[month]} "
                f"2024 12:00:00 GMT</pubDate><description>Story {n}.</description></item>"
            )
            n += 1
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Sahel</title>'
            f"<link>https://sahel.example/</link>{''.join(items)}</channel></rss>")


def walk_chain(out: Path, base: str) -> list[str]:
    """Entry ids of the subscription document and every document down its prev-archive
    chain; asserts every archive link on the way resolves to a published file."""
    def doc(url: str) -> etree._Element:
        assert url.startswith(base), url
        path = out / url[len(base):]
        assert path.is_file(), f"{url} does not resolve"
        return etree.parse(str(path)).getroot()

    ids: list[str] = []
    url: str | None = base + "news.atom"
    while url is not None:
        root = doc(url)
        ids += [e.findtext(f"{ATOM}id") for e in root.findall(f"{ATOM}entry")]
        links = {ln.get("rel"): ln.get("href") for ln in root.findall(f"{ATOM}link")}
        for rel in ("next-archive", "current"):
            if rel in links:
                doc(links[rel])
        url = links.get("prev-archive")
    return ids


def test_archives_and_subscription_hold_every_entry(tmp_path: Path) -> None:
    feed = tmp_path / "sahel.xml"
    feed.write_text(monthly_feed(1, [4, 5, 6, 7]))  # 16 entries, April to July
    base = "http://127.0.0.1:9/"
    config = tmp_path / "feedhub.yaml"
    config.write_text(config_text(9, {"sahel": "sahel.xml"}, per_feed=5)
                      .replace("keywords: [nothing-matches-this]", "keywords: [sahel]"))
    r = run_cli("-c", str(config), "fetch", "--publish")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "feeds"
    ids = walk_chain(out, base)
    assert len(ids) == len(set(ids)) == 16
    closed = {p: p.read_bytes() for p in (out / "news").glob("*.atom")
              if b'rel="next-archive"' in p.read_bytes()}
    assert closed  # April and May at least

    # More entries: the chain still holds all of them; closed months never change.
    feed.write_text(monthly_feed(1, [4, 5, 6, 7, 8]))
    r = run_cli("-c", str(config), "fetch", "--publish")
    assert r.returncode == 0, r.stderr
    ids = walk_chain(out, base)
    assert len(ids) == len(set(ids)) == 20
    for path, data in closed.items():
        assert path.read_bytes() == data, path


# -- 8. dates before 1990 and repeated guids -------------------------------------------

ODD_FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Odd</title><link>https://odd.example/</link>
<item><title>Epoch story</title><link>https://odd.example/1</link><guid>one</guid>
<pubDate>Thu, 01 Jan 1970 00:00:00 GMT</pubDate><description>Dated 1970.</description></item>
<item><title>First of a pair</title><link>https://odd.example/2</link><guid>two</guid>
<pubDate>Mon, 01 Jul 2024 10:00:00 GMT</pubDate><description>The first.</description></item>
<item><title>Second of a pair</title><link>https://odd.example/3</link><guid>two</guid>
<pubDate>Mon, 01 Jul 2024 11:00:00 GMT</pubDate><description>The second.</description></item>
</channel></rss>
"""


def test_epoch_dates_and_repeated_guids_are_logged_once(tmp_path: Path) -> None:
    (tmp_path / "odd.xml").write_text(ODD_FEED)
    config = tmp_path / "feedhub.yaml"
    config.write_text(config_text(9, {"odd": "odd.xml"}, per_feed=1)
                      .replace("keywords: [nothing-matches-this]", "keywords: [story, pair]"))
    r = run_cli("-c", str(config), "fetch", "--publish")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("dated before 1990") == 1, r.stderr
    assert r.stderr.count("repeat the guid") == 1, r.stderr
    assert "Traceback" not in r.stderr
    out = tmp_path / "feeds"
    assert not list(out.rglob("1970-*.atom"))
    published = b"".join(p.read_bytes() for p in out.rglob("*.atom"))
    assert b"1970-01-01" not in published and b"Epoch story" in published
