"""WebSub: tell the hub which topic feeds changed, so subscribers get them pushed.

A POST ``hub.mode=publish&hub.url=<feed URL>`` per changed feed (WebSub §7 leaves the
publish ping to the hub; this form is what Google's and Superfeedr's hubs accept).
Failures are reported, never raised: the feeds are already written.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence
from urllib.parse import urlencode

from feedhub import __version__

TIMEOUT = 10.0


def announce(hub: str, feed_urls: Sequence[str], *, timeout: float = TIMEOUT) -> list[str]:
    """POST one publish notification per feed URL; return one error line per failure."""
    errors = []
    for url in feed_urls:
        data = urlencode({"hub.mode": "publish", "hub.url": url}).encode()
        req = urllib.request.Request(
            hub,
            data=data,
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": f"feedhub/{__version__}",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                if resp.status >= 300:
                    errors.append(f"WebSub hub {hub}: HTTP {resp.status} for {url}")
        except urllib.error.HTTPError as e:
            errors.append(f"WebSub hub {hub}: HTTP {e.code} for {url}")
        except (urllib.error.URLError, OSError) as e:
            errors.append(f"WebSub hub {hub}: {getattr(e, 'reason', e)} for {url}")
    return errors
