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

:func:`install_fast_paths` adds no defence: it makes three hot internals of feedparser
cheaper with the same result (see there).

:func:`install` makes every process-wide patch in one explicit call (nothing is patched on
import): ``parse_xml_feed`` calls it before its first parse, and a parse worker may call it
at start-up (``feedhub.parse.install_fixes``).
"""

from __future__ import annotations

import codecs
import copy
import re
import types
from collections.abc import Callable
from typing import Any

import feedparser
import feedparser.mixin
from feedparser.mixin import _FeedParserMixin
from feedparser.util import FeedParserDict

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


# The feedparser versions whose mixin.py was read for install_fast_paths (the patches rely
# on which keys it reads from contentparams and on how it calls deepcopy and _urljoin).
FAST_PATH_VERSIONS = frozenset({"6.0.14"})
# Exactly the types copy.deepcopy returns unchanged (copy._deepcopy_atomic).
_ATOMIC = frozenset({str, int, float, bool, type(None)})
# Keys FeedParserDict.__getitem__/__setitem__ treat specially (aliases and computed keys).
_ALIASED = frozenset(FeedParserDict.keymap) | {
    "category", "enclosures", "license", "updated", "updated_parsed",
}


class _ContentParams(FeedParserDict):
    """feedparser's ``contentparams`` (type, base, language, ...) with a plain ``dict.get``.

    feedparser reads it with ``.get("type")``/``.get("base64")`` on every text callback and
    element end: FeedParserDict.get (two Python calls and an alias lookup each) was 0.35 s
    of 2.45 s CPU per 200 generated feeds. Neither key is an alias, so dict.get answers the
    same.
    """

    __slots__ = ()
    get = dict.get


def _fast_deepcopy(x: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy`` with a short cut for a flat contentparams dict.

    feedparser deep-copies contentparams into every content/summary/title detail: 0.45 s
    per 200 feeds. For a FeedParserDict without instance attributes, whose keys are no
    aliases and whose values deepcopy would return as they are, deepcopy builds exactly
    ``FeedParserDict(x)`` (same items, same order).
    """
    if (
        type(x) in (_ContentParams, FeedParserDict)
        and not x.__dict__
        and _ALIASED.isdisjoint(x)
        and all(type(v) in _ATOMIC for v in x.values())
    ):
        return FeedParserDict(x)
    return copy.deepcopy(x, memo)


def install_fast_paths() -> bool:
    """Make three feedparser internals cheaper, same results (idempotent); False if skipped.

    Only for the audited versions (``FAST_PATH_VERSIONS``); any other keeps stock feedparser.
    """
    if feedparser.__version__ not in FAST_PATH_VERSIONS:
        return False
    mixin: Any = feedparser.mixin
    original_join: Callable[[Any, Any], Any] = mixin._urljoin
    if getattr(original_join, "_feedhub_fast", False):
        return True

    def urljoin(base: Any, uri: Any) -> Any:
        # Called on every start tag (baseuri = _urljoin("", "") without an xml:base) and
        # for every link/id: 100k calls, 0.24 s per 200 feeds. With no base and no "://",
        # _urifixer cannot match and urljoin returns ``uri`` as it is.
        if not base and type(uri) is str and "://" not in uri:
            return uri
        return original_join(base, uri)

    urljoin._feedhub_fast = True  # type: ignore[attr-defined]
    mixin._urljoin = urljoin
    mixin.copy = types.SimpleNamespace(deepcopy=_fast_deepcopy)  # mixin's only use of copy

    original_init: Callable[..., Any] = _FeedParserMixin.__init__
    original_push: Callable[..., Any] = _FeedParserMixin.push_content

    def init(self: Any) -> None:
        original_init(self)
        self.contentparams = _ContentParams(self.contentparams)

    def push_content(
        self: Any, tag: str, attrs_d: Any, default_content_type: str, expecting_text: Any
    ) -> Any:
        result = original_push(self, tag, attrs_d, default_content_type, expecting_text)
        self.contentparams = _ContentParams(self.contentparams)
        return result

    _FeedParserMixin.__init__ = init  # type: ignore[method-assign]
    _FeedParserMixin.push_content = push_content
    return True


_installed = False


def install() -> None:
    """Every process-wide patch of feedparser, once per process (idempotent): the author and
    character-reference guards, the fast paths and the buffered expat driver."""
    global _installed
    if _installed:
        return
    # Imported here: this module must load on its own, before its package
    # (tests/support/parse_reference_run.py turns the fast paths off that way).
    from feedhub.parse import expat_driver

    install_author_guard()
    install_charref_guard()
    install_fast_paths()  # same result, cheaper internals
    expat_driver.install()  # same result, a fifth less parse time (see expat_driver)
    _installed = True
