"""robots.txt for article pages (RFC 9309), pure: bytes and a status in, a verdict out.

Feeds are exempt (a feed is published to be fetched by programs); an article page is a
page, and a site may ask crawlers to stay off it. The runner fetches each host's
robots.txt once and caches the rules (``ingest/pages.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.robotparser import RobotFileParser

AGENT = "feedhub"  # the product token matched against User-agent lines


@dataclass(frozen=True, slots=True)
class Robots:
    """One host's rules. ``allow_all``/``deny_all`` stand for RFC 9309's missing and
    unreachable files."""

    parser: RobotFileParser | None = None
    deny_all: bool = False

    def allows(self, url: str, agent: str = AGENT) -> bool:
        if self.deny_all:
            return False
        return self.parser is None or self.parser.can_fetch(agent, url)


def robots_from(status: int | None, body: bytes | None) -> Robots:
    """The rules a robots.txt response gives: its content on 2xx; none (all allowed) on
    4xx, where RFC 9309 calls the file unavailable; everything disallowed when it was
    unreachable (5xx, network errors, ``status`` None), until asked again."""
    if status is not None and 200 <= status < 300 and body is not None:
        parser = RobotFileParser()
        parser.parse(body.decode("utf-8", "replace").splitlines())
        return Robots(parser)
    if status is not None and 400 <= status < 500:
        return Robots()
    return Robots(deny_all=True)
