"""Defences against two resource bugs of feedparser 6.0.14 on hostile input.

1. Entity expansion. feedparser keeps "safe" internal DTD entities and expands them, and
   when expat's amplification limit stops the strict parser, its loose parser expands them
   again without any limit: a 40 KB document gave a 100,000,000-character title (315 MB).
   :func:`defuse_entities` removes every internal entity declaration from the DOCTYPE except
   tiny ones (a character reference or ≤ 8 characters), so expansion stays below ~3×;
   references to removed entities stay as literal text.
2. Quadratic author regex. ``_sync_author_detail`` runs an e-mail regex over the whole
   RSS ``<author>``/``<dc:creator>``/``<managingEditor>`` text that backtracks quadratically:
   a 64 KB author took 9.5 s, 1 MB would take ~40 min. :func:`install_author_guard` caps
   that text at 1,000 characters before the regex sees it (feedhub keeps ≤ 200 anyway).
3. Impossible wide encodings. A document in an 8-bit encoding that declares UTF-16 (or
   UTF-32), in its XML declaration or its HTTP charset, is decoded as UTF-16 whenever its
   length happens to be even — into CJK garbage that is no feed — and read correctly
   otherwise. :func:`drop_impossible_wide_encoding` removes such a declaration, since the
   first bytes already prove it wrong (XML 1.0, Appendix F).
4. Impossible character references. feedparser's loose parser encodes every referenced
   character as UTF-8, so ``&#xD800;`` (a lone surrogate) raised UnicodeEncodeError and
   ``&#x110000;`` ValueError: one such reference in any entry failed the whole feed.
   :func:`install_charref_guard` turns them into U+FFFD first.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from typing import Any

from feedparser.mixin import _FeedParserMixin

AUTHOR_MAX = 1_000
_HEAD = 64 * 1024  # a DOCTYPE lives at the very top of a document

# Inside the internal subset: quoted strings, comments and PIs are skipped whole so a "]"
# or ">" inside them does not end the subset; "]" does.
_SUBSET_TOKEN = re.compile(rb'"[^"]*"|\'[^\']*\'|<!--.*?-->|<\?.*?\?>|\]|[^"\'\]<]+|<', re.DOTALL)
_ENTITY_DECL = re.compile(rb"<!ENTITY\s(?:[^>\"']|\"[^\"]*\"|'[^']*')*>")
_SAFE_ENTITY = re.compile(
    rb"<!ENTITY\s+[A-Za-z_][\w.-]*\s+"
    rb"(?:\"(?:&#x?[0-9A-Fa-f]+;|[^&%\"<]{0,8})\"|'(?:&#x?[0-9A-Fa-f]+;|[^&%'<]{0,8})')\s*>"
)
_XML_DECL_ENCODING = re.compile(r"""\A(<\?xml[^>]*?encoding\s*=\s*)(["'])[^"']*\2""")
_WIDE_NAME = re.compile(r"\s*(?:utf-?(?:16|32)|ucs-?[24])", re.IGNORECASE)
_DECL_ENCODING_8BIT = re.compile(
    rb"""\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*(["'])([^"']*)\1"""
)
_CHARSET_PARAM = re.compile(r";\s*charset\s*=\s*[\"']?([^;\"'\s]*)[\"']?", re.IGNORECASE)


def drop_impossible_wide_encoding(
    body: bytes, content_type: str | None
) -> tuple[bytes, str | None]:
    """``body`` and ``content_type`` without a UTF-16/32 declaration that the bytes refute.

    Text in UTF-16/32 has a NUL byte or a byte-order mark in its first two bytes; text in
    an 8-bit encoding never does. feedparser then reads the body as UTF-8, falling back to
    windows-1252, as for any document without a declaration.
    """
    head = body[:2]
    if b"\x00" in head or head in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return body, content_type  # really wide (or a BOM says so): leave it to feedparser
    m = _DECL_ENCODING_8BIT.match(body)
    if m and _WIDE_NAME.match(m.group(2).decode("ascii", "replace")):
        body = body[: m.start(2)] + b"utf-8" + body[m.end(2) :]
    if content_type:
        charset = _CHARSET_PARAM.search(content_type)
        if charset and _WIDE_NAME.match(charset.group(1)):
            content_type = content_type[: charset.start()] + content_type[charset.end() :]
    return body, content_type


def defuse_entities(body: bytes) -> bytes:
    """``body`` with unsafe internal entity declarations removed (unchanged in the usual case)."""
    wide = _wide_codec(body)
    if wide is None:
        return _defuse_8bit(body)
    # UTF-16/32: the byte patterns cannot see the DOCTYPE, so transcode to UTF-8 first, and
    # only when a DOCTYPE is present (almost never).
    try:
        text = body.decode(wide)
    except UnicodeDecodeError:
        return body
    if "<!DOCTYPE" not in text[:_HEAD]:
        return body
    text = _XML_DECL_ENCODING.sub(r"\1\2utf-8\2", text.lstrip("\ufeff"), count=1)
    return _defuse_8bit(text.encode("utf-8", "surrogatepass"))


def _defuse_8bit(body: bytes) -> bytes:
    start = body.find(b"<!DOCTYPE", 0, _HEAD)
    if start < 0 or b"<!ENTITY" not in body[start : _HEAD + start]:
        return body  # the fast path: no internal entities possible
    open_ = body.find(b"[", start)
    close = body.find(b">", start)
    if open_ < 0 or (0 <= close < open_):
        return body  # DOCTYPE without an internal subset
    pos = open_ + 1
    for token in _SUBSET_TOKEN.finditer(body, pos):
        if token.group() == b"]":
            end = token.start()
            subset = _ENTITY_DECL.sub(_keep_if_safe, body[open_ + 1 : end])
            return body[: open_ + 1] + subset + body[end:]
    # Unterminated subset: expat rejects the document and feedparser's loose parser reads
    # only the safe declarations it finds, so clean the whole remainder.
    return body[: open_ + 1] + _ENTITY_DECL.sub(_keep_if_safe, body[open_ + 1 :])


def _keep_if_safe(match: re.Match[bytes]) -> bytes:
    return match.group() if _SAFE_ENTITY.fullmatch(match.group()) else b""


def _wide_codec(body: bytes) -> str | None:
    """ "utf-16"/"utf-32" when the body is in one of them (BOM or "<" pattern), else None."""
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if body.startswith(bom):
            return codec
    patterns = {
        b"<\x00\x00\x00": "utf-32-le",
        b"\x00\x00\x00<": "utf-32-be",
        b"<\x00?\x00": "utf-16-le",
        b"\x00<\x00?": "utf-16-be",
    }
    return patterns.get(body[:4])


def install_author_guard() -> None:
    """Cap author text before feedparser's quadratic e-mail regex (idempotent)."""
    original: Callable[..., Any] = _FeedParserMixin._sync_author_detail
    if getattr(original, "_feedhub_guard", False):
        return

    def guarded(self: Any, key: str = "author") -> Any:
        context = self._get_context()
        value = context.get(key)
        if isinstance(value, str) and len(value) > AUTHOR_MAX:
            context[key] = value[:AUTHOR_MAX]
        return original(self, key)

    guarded._feedhub_guard = True  # type: ignore[attr-defined]
    _FeedParserMixin._sync_author_detail = guarded


def install_charref_guard() -> None:
    """Make feedparser read references to surrogates or past U+10FFFF as U+FFFD (idempotent)."""
    original: Callable[..., Any] = _FeedParserMixin.handle_charref
    if getattr(original, "_feedhub_guard", False):
        return

    def guarded(self: Any, ref: str) -> Any:
        try:
            code = int(ref[1:], 16) if ref[:1] in ("x", "X") else int(ref)
        except ValueError:
            return original(self, ref)
        if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            ref = "xfffd"
        return original(self, ref)

    guarded._feedhub_guard = True  # type: ignore[attr-defined]
    _FeedParserMixin.handle_charref = guarded
