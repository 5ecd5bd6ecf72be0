"""The soak benchmark's feed server: many sources with behaviours, in a separate process.

``python soak_server.py SPEC.json`` serves ``/feeds/<name>.xml`` on 127.0.0.1 (a free
port, printed as the first stdout line) from an aiohttp app. ``SPEC.json`` holds
``{"dir": FEEDS_DIR, "sources": {name: {"kind": KIND, ...}}}``; each source behaves as its
kind says:

* ``static``   – the same body every time, strong ETag + Last-Modified, 304 on a match;
* ``slow``     – like static, after ``delay`` seconds;
* ``fail500``  – always ``500 Internal Server Error``;
* ``reset``    – the connection is reset (RST) before any response;
* ``flaky``    – a 500 on every ``every``-th request, otherwise static;
* ``changing`` – a new version (one more item, a new ETag) every ``every`` requests.

Every request is recorded with its arrival time (``time.time()``, taken as the handler
starts, before any delay) and the outcome sent: ``GET /_events`` returns them as
``[[name, arrival, outcome], …]``, ``GET /_stats`` counts by outcome. Only 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import signal
import socket
import struct
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from aiohttp import web

# The feeds' own dates are fixed (benchmarks/common.py EPOCH); live items follow it.
LIVE_EPOCH = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
_LIVE_TEXT = (
    "Niger Niamey Mali Sahel Nigeria Lagos Kenya Nairobi Sudan refugees displaced UNHCR "
    "election parliament president minister ceasefire convoy border gold oil inflation "
    "budget strike protest court vaccine outbreak cholera climate drought flooding "
    "football tournament the of and to in a on for with after said will"
)
LIVE_WORDS = tuple(_LIVE_TEXT.split())
KEEP_LIVE = 5  # a changing feed carries its newest few live items on top of its base items


def live_item(name: str, version: int) -> str:
    """Item ``version`` of a changing source: deterministic text, a new guid."""
    rng = random.Random(f"{name}:{version}")
    title = " ".join(rng.choice(LIVE_WORDS) for _ in range(9)).capitalize()
    paras = "".join(
        "<p>" + " ".join(rng.choice(LIVE_WORDS) for _ in range(40)).capitalize() + ".</p>"
        for _ in range(4)
    )
    when = LIVE_EPOCH + timedelta(minutes=version)
    link = f"https://{name}.example.com/live/{version}"
    return (
        f"<item>\n<title>Live {version}: {escape(title)}</title>\n<link>{link}</link>\n"
        f'<guid isPermaLink="false">{name}:live-{version}</guid>\n'
        f"<pubDate>{format_datetime(when)}</pubDate>\n"
        f"<description>{escape(paras)}</description>\n</item>\n"
    )


def changing_body(base: bytes, name: str, version: int) -> bytes:
    if version == 0:
        return base
    items = "".join(live_item(name, v) for v in range(version, max(0, version - KEEP_LIVE), -1))
    head, sep, tail = base.partition(b"<item>")
    return head + items.encode() + sep + tail


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def reset_connection(request: web.Request) -> None:
    """Close the client's connection with an RST (SO_LINGER 0), sending no response."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def make_app(spec: dict) -> web.Application:
    feeds_dir = Path(spec["dir"])
    sources: dict[str, dict] = spec["sources"]
    base: dict[str, bytes] = {n: (feeds_dir / f"{n}.xml").read_bytes() for n in sources}
    modified0 = LIVE_EPOCH
    requests: Counter[str] = Counter()  # per source
    counts: Counter[str] = Counter()  # per outcome
    events: list[tuple[str, float, str]] = []
    cache: dict[tuple[str, int], tuple[bytes, str]] = {}

    def body_for(name: str, version: int) -> tuple[bytes, str]:
        hit = cache.get((name, version))
        if hit is None:
            body = changing_body(base[name], name, version)
            hit = cache[(name, version)] = (body, etag_of(body))
            cache.pop((name, version - 2), None)
        return hit

    def record(name: str, arrival: float, outcome: str) -> None:
        counts[outcome] += 1
        events.append((name, arrival, outcome))

    async def feed(request: web.Request) -> web.StreamResponse:
        arrival = time.time()
        name = request.match_info["name"]
        behaviour = sources.get(name)
        if behaviour is None:
            counts["404"] += 1
            return web.Response(status=404)
        requests[name] += 1
        n = requests[name]
        kind = behaviour["kind"]
        if kind == "slow":
            await asyncio.sleep(behaviour["delay"])
        if kind == "fail500" or (kind == "flaky" and n % behaviour["every"] == 0):
            record(name, arrival, "500")
            return web.Response(status=500, text="soak: failing on purpose")
        if kind == "reset":
            record(name, arrival, "reset")
            reset_connection(request)
            raise asyncio.CancelledError  # aiohttp drops the handler quietly
        version = (n - 1) // behaviour["every"] if kind == "changing" else 0
        body, etag = body_for(name, version)
        modified = format_datetime(modified0 + timedelta(minutes=version), usegmt=True)
        headers = {"ETag": etag, "Last-Modified": modified}
        inm = request.headers.get("If-None-Match")
        ims = request.headers.get("If-Modified-Since")
        if (inm and etag in [t.strip() for t in inm.split(",")]) or (not inm and ims == modified):
            record(name, arrival, "304")
            return web.Response(status=304, headers=headers)
        record(name, arrival, "200")
        return web.Response(body=body, headers=headers, content_type="application/rss+xml",
                            charset="utf-8")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"outcomes": dict(counts), "requests": len(events)})

    async def all_events(request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        return web.json_response(events[since:])

    app = web.Application()
    app.router.add_get("/feeds/{name}.xml", feed)
    app.router.add_get("/_stats", stats)
    app.router.add_get("/_events", all_events)
    return app


def serve(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        runner = web.AppRunner(make_app(spec), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"http://127.0.0.1:{port}", flush=True)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        sys.exit("usage: soak_server.py serve SPEC.json")
