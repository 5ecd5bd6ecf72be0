"""Slow clients beside a healthy one against ``feedhub run`` (issue 19, item 3).

    .venv/bin/python benchmarks/slow_clients.py [--duration 60] [--slow 300] [--nofile 256]

What it does:

* generates ``--feeds`` RSS files (benchmarks/common.py's corpus) as local file sources and
  starts ``python -m feedhub -c CFG run`` as a real subprocess with its open-file limit
  lowered to ``--nofile`` (the probe's 256: the shipped unit had no ``LimitNOFILE``);
* opens ``--slow`` connections that each send a request head one byte a second (a
  slow-loris client) and reconnect a second after the server cuts them off or refuses them;
* meanwhile a healthy client GETs a topic feed on a new connection every 50 ms;
* after ``--duration`` seconds prints the healthy client's latency (p50/p99/max), its
  failures, how often slow clients were cut, the service's peak descriptors and how many
  lines the service's log grew by, with PASS/MISS against the targets (healthy p99 < 100 ms,
  no failure, the log grows by a few lines at most) and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import bench_env, generate_feeds, machine, write_config  # noqa: E402

P99_TARGET = 0.100  # seconds
LOG_LINES_TARGET = 5  # lines the log may grow by during the run
REQUEST = b"GET /sahel.atom HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.failures: dict[str, int] = {}
        self.slow_opened = 0
        self.slow_cut = 0
        self.slow_open_now = 0
        self.slow_open_max = 0

    def fail(self, what: str) -> None:
        self.failures[what] = self.failures.get(what, 0) + 1


async def healthy(port: int, stats: Stats, stop: asyncio.Event) -> None:
    """One GET on a fresh connection every 50 ms; latency to the last byte."""
    while not stop.is_set():
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), 5
            )
            writer.write(REQUEST)
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            status = data.split(b"\r\n", 1)[0]
            if b" 200 " in status:
                stats.latencies.append(time.perf_counter() - started)
            else:
                stats.fail(status.decode(errors="replace")[:40] or "empty reply")
        except (OSError, TimeoutError) as e:
            stats.fail(type(e).__name__)
        with_gap = 0.05 - (time.perf_counter() - started)
        if with_gap > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), with_gap)


RECONNECT_AFTER = 1.0  # seconds a slow client waits after being cut off or refused


async def slow(port: int, stats: Stats, stop: asyncio.Event) -> None:
    """A head sent one byte a second; reconnect a second after the server hangs up."""
    head = b"GET /sahel.atom HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100_000
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        stats.slow_opened += 1
        stats.slow_open_now += 1
        stats.slow_open_max = max(stats.slow_open_max, stats.slow_open_now)
        try:
            for i in range(len(head)):
                writer.write(head[i : i + 1])
                await writer.drain()
                try:
                    await asyncio.wait_for(reader.read(1), 1.0)
                    break  # EOF, or an answer (400/503): the server is done with us
                except TimeoutError:
                    pass
                if stop.is_set():
                    break
            if not stop.is_set():
                stats.slow_cut += 1
        except OSError:
            stats.slow_cut += 1
        finally:
            stats.slow_open_now -= 1
            writer.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RECONNECT_AFTER)


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


async def drive(port: int, n_slow: int, duration: float, pid: int) -> tuple[Stats, int]:
    stats = Stats()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(slow(port, stats, stop)) for _ in range(n_slow)]
    await asyncio.sleep(2)  # the slow clients are in place before measuring
    stats.latencies.clear()
    stats.failures.clear()
    tasks.append(asyncio.create_task(healthy(port, stats, stop)))
    peak_fds = 0
    end = time.monotonic() + duration
    while time.monotonic() < end:
        peak_fds = max(peak_fds, fd_count(pid))
        await asyncio.sleep(1)
    stop.set()
    await asyncio.wait(tasks, timeout=10)
    return stats, peak_fds


def settle(log_path: Path, quiet: float = 5.0, limit: float = 180.0) -> None:
    """Wait until the start-up sweep and publish are over: the log still for ``quiet`` s."""
    deadline = time.monotonic() + limit
    size, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now_size = log_path.stat().st_size
        if now_size != size:
            size, since = now_size, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.5)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    ap.add_argument("--slow", type=int, default=300, help="slow clients (default 300)")
    ap.add_argument("--nofile", type=int, default=256,
                    help="the service's open-file limit (default 256, as the probe had)")
    ap.add_argument("--feeds", type=int, default=20)
    ap.add_argument("--entries", type=int, default=20)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # our own slow clients
    tmp = Path(tempfile.mkdtemp(prefix="feedhub-slow-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        feeds = generate_feeds(args.feeds, args.entries)
        sources = []
        for name, body in feeds.bodies.items():
            (tmp / f"{name}.xml").write_bytes(body)
            sources.append((name, str(tmp / f"{name}.xml")))
        port = free_port()
        cfg = write_config(tmp / "feedhub.yaml", sources, store=tmp / "feedhub.db",
                           output=tmp / "feeds")
        data = json.loads(cfg.read_text())
        data["server"] = {"host": "127.0.0.1", "port": port}
        cfg.write_text(json.dumps(data, indent=1))
        log_path = tmp / "service.log"

        nofile = min(args.nofile, hard)

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "feedhub", "-c", str(cfg), "run"],
                env=bench_env(), stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit,
                start_new_session=True,
            )
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
                return 1
            time.sleep(0.5)
        settle(log_path)
        lines_before = log_path.read_text(errors="replace").count("\n")
        bytes_before = log_path.stat().st_size
        load_before = os.getloadavg()
        stats, peak_fds = asyncio.run(drive(port, args.slow, args.duration, proc.pid))
        load_after = os.getloadavg()
        text = log_path.read_text(errors="replace")
        grown = text.splitlines()[lines_before:]
        p50, p99 = pct(stats.latencies, 0.50), pct(stats.latencies, 0.99)
        worst = max(stats.latencies, default=float("nan"))
        ok_p99 = p99 < P99_TARGET
        ok_fail = not stats.failures
        ok_log = len(grown) <= LOG_LINES_TARGET
        print(f"machine: {machine()}")
        print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
              f"(1 min); service open-file limit {nofile}")
        print(f"slow clients: {args.slow} (one byte a second), {args.duration:.0f} s: "
              f"{stats.slow_opened} connections opened, {stats.slow_cut} cut by the server, "
              f"at most {stats.slow_open_max} open at once")
        print(f"healthy client: {len(stats.latencies)} answered 200, p50 {p50 * 1000:.1f} ms, "
              f"p99 {p99 * 1000:.1f} ms, max {worst * 1000:.1f} ms "
              f"[{'PASS' if ok_p99 else 'MISS'} p99 < {P99_TARGET * 1000:.0f} ms]")
        print(f"healthy failures: {stats.failures or 'none'} [{'PASS' if ok_fail else 'MISS'}]")
        print(f"service peak descriptors: {peak_fds}")
        print(f"log growth: {len(grown)} lines, {log_path.stat().st_size - bytes_before} bytes "
              f"[{'PASS' if ok_log else 'MISS'} ≤ {LOG_LINES_TARGET} lines]")
        for line in grown[:10]:
            print("  " + line[:200])
        return 0 if ok_p99 and ok_fail and ok_log else 1
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
