"""Article page → the article's text (issue 15). Pure: bytes in, ``Extracted`` out.

trafilatura does the extraction (F1 0.958 on a public benchmark of 181 news pages; see
benchmarks/fulltext.py for ours). It is imported on the first page only, in the parse
worker that gets it: ~0.15 s that sources without full text never pay.

A page that yields nothing usable is an ``Extracted`` with ``error`` set, and the article
keeps its feed content: a non-HTML body (a PDF), a page without an article, text no longer
than the feed's teaser (a paywall stub, a consent page), or a short text that reads as
boilerplate (cookie walls, sign-in and subscription prompts).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from w3lib.encoding import html_to_unicode

from feedhub.model import Extracted
from feedhub.parse.sanitize import clean_html, to_text

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xml", "text/xml"})
# Less text than this is not an article, whatever the teaser (a headline and a byline).
MIN_CHARS = 250
# A text this short that says these words is a wall in front of the article, not the
# article (cookie consent, paywall, login). Longer texts may mention them in passing.
BOILERPLATE_MAX_CHARS = 1500
_BOILERPLATE = re.compile(
    r"\b(cookies?|consent|subscribe|subscription|subscribers?|paywall|sign[ -]?in|log[ -]?in"
    r"|create an account|enable javascript|javascript is disabled|ad ?blocker"
    r"|accept all|privacy settings)\b",
    re.IGNORECASE,
)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode(body: bytes, content_type: str | None) -> str:
    """The page as text, as a browser reads it (w3lib): its BOM, the charset the server
    named, its own ``<meta>`` or XML declaration (browsers' names: latin-1 is cp1252);
    undeclared, UTF-8 if it decodes, else trafilatura's guess."""
    return html_to_unicode(content_type, body, auto_detect_fun=_guess)[1]


def _guess(body: bytes) -> str | None:
    """The encoding of a page that declares none."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        from trafilatura.utils import detect_encoding  # lazy: see the module docstring

        return next(iter(detect_encoding(body)), None)
    return "utf-8"


def _not_html(body: bytes, content_type: str | None) -> str | None:
    """Why the body is not an HTML page, or None."""
    kind = media_type(content_type)
    if body.lstrip()[:5] == b"%PDF-":
        return "not an HTML page (a PDF)"
    if kind and kind not in HTML_TYPES:
        return f"not an HTML page ({kind})"
    if b"<" not in body[:65536]:
        return "not an HTML page (no markup)"
    return None


def _front_page(url: str) -> bool:
    """Whether ``url`` is a site's root (its own canonical URL says so on home pages)."""
    rest = url.split("://", 1)[-1]
    path = rest.split("/", 1)[1] if "/" in rest else ""
    return path.split("#", 1)[0] in ("", "index.html", "index.php")


def _date(value: str | None) -> datetime | None:
    """trafilatura's date (``YYYY-MM-DD``) as a UTC datetime at midnight."""
    if not value:
        return None
    try:
        return datetime.strptime(value[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


def extract_page(body: bytes, content_type: str | None, url: str, teaser: str = "") -> Extracted:
    """The article on the page at ``url`` (final URL), as sanitized HTML plus metadata.

    ``teaser``: the entry's feed content (HTML), the length to beat.
    """
    reason = _not_html(body, content_type)
    if reason:
        return Extracted(error=reason)
    import trafilatura  # lazy: see the module docstring
    from trafilatura.htmlprocessing import build_html_output

    # trafilatura logs a warning per page it finds nothing in; our one line says it.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    text = decode(body, content_type)
    try:
        doc = trafilatura.bare_extraction(
            text,
            url=url,
            with_metadata=True,
            include_comments=False,  # readers' comments are not the article
            include_formatting=True,  # headings, lists, emphasis in the published HTML
            include_tables=True,
            # The page's metadata only: the extensive search through the text cost 0.4 s
            # on some pages (dateparser), and a date in the body is often another one's.
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
    except Exception as e:  # a library bug on one page must not fail the job
        return Extracted(error=f"extraction failed: {type(e).__name__}: {e}"[:300])
    if doc is None or doc.body is None:
        return Extracted(error="no article found on the page")
    if _front_page(url) or (doc.url and _front_page(doc.url)):
        # A site's home page (an article moved or removed often redirects there) lists
        # many stories; what trafilatura picks from it is none of them.
        return Extracted(error="no article found on the page (a site's home page)")
    html = clean_html(build_html_output(doc), base=url)
    plain = to_text(html)
    teaser_chars = len(to_text(teaser))
    if len(plain) < MIN_CHARS:
        return Extracted(error=f"no article found on the page ({len(plain)} characters)")
    if len(plain) <= teaser_chars:
        return Extracted(
            error=f"extracted text no longer than the teaser ({len(plain)} ≤ {teaser_chars} "
            "characters)"
        )
    if len(plain) <= BOILERPLATE_MAX_CHARS and (m := _BOILERPLATE.search(plain)):
        return Extracted(error=f"boilerplate, not an article ({m.group(0).lower()!r})")
    authors = tuple(a.strip() for a in (doc.author or "").split(";") if a.strip())
    return Extracted(
        html=html,
        chars=len(plain),
        published=_date(doc.date),
        authors=authors,
    )
