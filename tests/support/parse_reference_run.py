"""Parse files with the current parse stage, its speed-ups turned off: the reference run.

``python -m tests.support.parse_reference_run OUT FILE...`` pickles the outcomes to OUT.
It runs in its own process because the speed-ups patch feedparser process-wide when
``feedhub.parse`` is imported. Turned off here, with no switch in production code:

- ``feedparser_fixes.install_fast_paths`` (cheaper feedparser internals): ``feed.py`` calls
  it at import, and importing any ``feedhub.parse.*`` module runs the package's
  ``__init__`` and so ``feed.py``. So ``feedparser_fixes`` is loaded on its own first,
  under its own name, and its ``install_fast_paths`` replaced by a no-op; ``feed.py`` then
  imports that module object from ``sys.modules``.
- ``feed._get`` (``dict.get`` on feedparser's dicts): back to each dict's own ``.get``.
- the lxml fast path (``parse/fastxml.py``, #17): declines every document, so stock
  feedparser parses them all and the comparison also checks the fast path's values.

What is left is the parse stage itself, so the two runs differ only by the speed-ups.
"""

from __future__ import annotations

import copy
import importlib.util
import pickle
import sys
import types
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

Outcome = tuple[Any, ...]


def outcomes(parse_feed: Callable[..., Any], files: Sequence[Path]) -> list[Outcome]:
    """Per file and content type: ("ok", ParsedFeed) or ("error", type name, message)."""
    out: list[Outcome] = []
    for path in files:
        body = path.read_bytes()
        url = f"http://example.com/feeds/{path.name}"
        for content_type in (None, "application/rss+xml; charset=utf-8"):
            try:
                out.append(("ok", parse_feed(body, url=url, content_type=content_type, now=NOW)))
            except Exception as exc:
                out.append(("error", type(exc).__name__, str(exc)))
    return out


def fast_paths_installed() -> list[str]:
    """Which of feedparser's internals are feedhub's fast versions (empty: stock)."""
    import feedparser.mixin
    import feedparser.urls

    mixin: Any = feedparser.mixin
    found = []
    if mixin._urljoin is not feedparser.urls._urljoin:
        found.append("_urljoin")
    if mixin.copy is not copy:
        found.append("copy.deepcopy")
    for method in ("__init__", "push_content"):
        if getattr(mixin._FeedParserMixin, method).__module__ != "feedparser.mixin":
            found.append(f"_FeedParserMixin.{method}")
    return found


def _method_get(d: Any, key: str, default: Any = None) -> Any:
    return d.get(key, default)  # FeedParserDict.get, with its alias lookup


def parse_feed_without_fast_paths() -> Callable[..., Any]:
    if any(m == "feedhub.parse" or m.startswith("feedhub.parse.") for m in sys.modules):
        raise SystemExit("feedhub.parse was imported before its fast paths could be turned off")
    import feedhub  # not feedhub.parse: importlib.util.find_spec(name) would import it

    name = "feedhub.parse.feedparser_fixes"
    path = Path(feedhub.__file__).parent / "parse" / "feedparser_fixes.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    fixes = importlib.util.module_from_spec(spec)
    sys.modules[name] = fixes
    spec.loader.exec_module(fixes)
    fixes.install_fast_paths = lambda: False  # type: ignore[attr-defined]

    import feedhub.parse
    from feedhub.parse import feed

    if sys.modules[name] is not fixes:
        raise SystemExit("feedhub.parse loaded a second feedparser_fixes")
    if getattr(feed, "_get", None) is not dict.get:
        raise SystemExit("feed._get is no longer dict.get: update this runner")
    feed._get = _method_get  # type: ignore[attr-defined]
    if not callable(getattr(getattr(feed, "fastxml", None), "parse", None)):
        raise SystemExit("feed.fastxml.parse is gone: update this runner")
    feed.fastxml = types.SimpleNamespace(parse=lambda body, content_type: None)  # type: ignore[attr-defined]
    return feedhub.parse.parse_feed


def main(argv: Sequence[str]) -> None:
    parse_feed = parse_feed_without_fast_paths()
    installed = fast_paths_installed()
    if installed:
        raise SystemExit(f"fast paths still installed: {installed}")
    result = outcomes(parse_feed, [Path(p) for p in argv[1:]])
    Path(argv[0]).write_bytes(pickle.dumps({"fast_paths": installed, "outcomes": result}))


if __name__ == "__main__":
    main(sys.argv[1:])
