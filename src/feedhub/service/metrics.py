"""Prometheus metrics of one service, in a registry of its own.

A dedicated ``CollectorRegistry`` per service (not prometheus-client's global one) lets
tests build several apps in one process without "Duplicated timeseries" errors.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from feedhub.ingest.run import SourceReport

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Fetches range from a local file read (ms) to a slow server at the 30 s timeout.
FETCH_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
PUBLISH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """The service's counters, histograms and gauges, updated from ingest and publish."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.fetches = Counter(
            "feedhub_fetches", "Source fetches by HTTP status (or 'none') and outcome.",
            ["status", "outcome"], registry=r,
        )
        self.fetch_duration = Histogram(
            "feedhub_fetch_duration_seconds", "Time to fetch, parse and store one source.",
            buckets=FETCH_BUCKETS, registry=r,
        )
        self.articles_ingested = Counter(
            "feedhub_articles_ingested", "New articles stored.", registry=r
        )
        self.articles_updated = Counter(
            "feedhub_articles_updated", "Stored articles updated in place.", registry=r
        )
        self.duplicates_merged = Counter(
            "feedhub_duplicates_merged", "Articles merged into another source's story.",
            registry=r,
        )
        self.publish_duration = Histogram(
            "feedhub_publish_duration_seconds", "Time to publish every topic.",
            buckets=PUBLISH_BUCKETS, registry=r,
        )
        self.publishes = Counter(
            "feedhub_publishes", "Publish runs by outcome.", ["outcome"], registry=r
        )
        self.sources_in_error = Gauge(
            "feedhub_sources_in_error", "Enabled sources whose last fetch failed.", registry=r
        )
        self.sweeps = Counter("feedhub_sweeps", "Scheduler sweeps completed.", registry=r)
        self.last_sweep = Gauge(
            "feedhub_last_sweep_timestamp_seconds", "Unix time the last sweep ended.", registry=r
        )

    def observe_fetch(self, report: SourceReport) -> None:
        """Count one source's ingest outcome."""
        status = str(report.status) if report.status is not None else "none"
        self.fetches.labels(status=status, outcome=report.outcome).inc()
        self.fetch_duration.observe(report.duration)
        if report.new:
            self.articles_ingested.inc(report.new)
        if report.updated:
            self.articles_updated.inc(report.updated)

    def merged(self, count: int = 1) -> None:
        """Count duplicates merged into another article's story."""
        self.duplicates_merged.inc(count)

    def observe_publish(self, seconds: float, ok: bool) -> None:
        self.publish_duration.observe(seconds)
        self.publishes.labels(outcome="ok" if ok else "error").inc()

    def set_sources_in_error(self, names: Iterable[str]) -> None:
        self.sources_in_error.set(sum(1 for _ in names))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
