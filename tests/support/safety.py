"""One safety checker for everything feedhub publishes: Atom feeds, index.html, index.opml
and local article pages.

Why one: the property tests (test_safety.py) and the corpus runs (test_corpus.py) must judge
"safe" the same way. It parses like a reader does — XML with lxml, the HTML inside Atom
content and the HTML pages with the stdlib's ``html.parser`` (entities decoded once, as a
browser does) — and lists every problem instead of grepping for strings:

- elements that run code, load other documents, style the page or submit data (script,
  iframe, form, style, object, embed, base, meta, svg …), comments, CDATA sections and
  processing instructions (old browsers ran ``<!--[if IE]><script>`` comments), except
  feedhub's own ``<?xml-stylesheet?>`` naming feed.xsl, which must be feedhub's own bytes;
- any ``on*`` event handler, ``style``, ``srcdoc`` or ``http-equiv`` attribute;
- any URL attribute whose scheme, after the whitespace and control characters a browser
  ignores are dropped and case is folded, is javascript:, vbscript: or data: (data: is
  forbidden outright: it can carry HTML or SVG with script, and feedhub never needs it);
- Atom titles that are not plain text (``type="text"``).

index.html and article pages are whole documents: their ``<head>`` may hold feedhub's own
furniture (charset/viewport/generator meta, title, alternate/outline links, and a style
element whose text is one of ``allowed_css``), nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from lxml import etree

from feedhub.publish.atom import STYLESHEET
from feedhub.publish.stylesheet import render_stylesheet

ATOM_NS = "http://www.w3.org/2005/Atom"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"

UNSAFE_ELEMENTS: frozenset[str] = frozenset(
    {
        # run code or load another document
        "script", "iframe", "frame", "frameset", "object", "embed", "applet", "param",
        "portal", "base", "meta", "link", "svg", "math", "template", "xml", "import",
        # style injection
        "style",
        # forms: phishing and self-submitting inputs
        "form", "input", "button", "select", "textarea", "keygen", "isindex",
        # raw-text elements that parse differently with scripting on/off (mXSS vectors)
        "noscript", "noembed", "noframes", "xmp", "plaintext",
    }
)  # fmt: skip
URL_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "href", "src", "action", "formaction", "xlink:href", "poster", "background",
        "cite", "longdesc", "codebase", "data", "dynsrc", "lowsrc", "manifest", "ping",
        "profile", "usemap", "icon", "archive", "classid",
    }
)  # fmt: skip
UNSAFE_ATTRIBUTES: frozenset[str] = frozenset({"style", "srcdoc", "http-equiv"})
UNSAFE_SCHEMES: frozenset[str] = frozenset({"javascript", "vbscript", "data", "livescript"})

# Browsers drop tabs and newlines anywhere in a URL and C0 controls/spaces at its ends; some
# old ones dropped more. Removing every such character is the cautious reading.
_IGNORED_IN_URL = re.compile(r"[\x00-\x20\x7f-\x9f]+")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")

_OWN_XSL = re.compile(r"/(?:[A-Za-z0-9._~-]+/)*feed\.xsl")

_HEAD_META = frozenset({"charset", "name", "content"})
_HEAD_LINK_RELS = frozenset({"alternate", "outline"})


def url_scheme(url: str) -> str | None:
    """The scheme a browser would see in ``url`` (lower case), or None for a relative URL."""
    m = _SCHEME.match(_IGNORED_IN_URL.sub("", url))
    return m.group(1).lower() if m else None


def unsafe_url(url: str) -> bool:
    return url_scheme(url) in UNSAFE_SCHEMES


class _HtmlChecker(HTMLParser):
    """Collects the problems of one HTML fragment or document (see the module docstring)."""

    def __init__(self, *, document: bool, allowed_css: Collection[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.document = document
        self.allowed_css = {css.strip() for css in allowed_css}
        self.problems: list[str] = []
        self.in_head = False
        self.style: list[str] | None = None  # text of the <style> being read

    def _problem(self, what: str) -> None:
        self.problems.append(what)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._element(tag, attrs)
        if tag == "head" and self.document:
            self.in_head = True
        elif tag == "body":
            self.in_head = False

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._element(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.in_head = False
        elif tag == "style" and self.style is not None:
            css = "".join(self.style).strip()
            if css not in self.allowed_css:
                self._problem(f"<style> with unexpected text {css[:80]!r}")
            self.style = None

    def handle_data(self, data: str) -> None:
        if self.style is not None:
            self.style.append(data)

    def handle_comment(self, data: str) -> None:
        self._problem(f"comment <!--{data[:60]}-->")

    def handle_decl(self, decl: str) -> None:
        if not (self.document and decl.lower() == "doctype html"):
            self._problem(f"declaration <!{decl[:60]}>")

    def unknown_decl(self, data: str) -> None:
        self._problem(f"marked section <![{data[:60]}]>")

    def handle_pi(self, data: str) -> None:
        self._problem(f"processing instruction <?{data[:60]}>")

    def _element(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if self.in_head and self._head_furniture(tag, values):
            pass
        elif tag in UNSAFE_ELEMENTS or tag.rsplit(":", 1)[-1] in UNSAFE_ELEMENTS:
            self._problem(f"<{tag}> element")
        for name, value in attrs:
            self._attribute(tag, name, value or "")

    def _head_furniture(self, tag: str, attrs: dict[str, str]) -> bool:
        """True for the head elements feedhub's own pages carry (their attributes are
        still checked)."""
        if tag == "title":
            return True
        if tag == "meta":
            return set(attrs) <= _HEAD_META
        if tag == "link":
            rels = set(attrs.get("rel", "").lower().split())
            return bool(rels) and rels <= _HEAD_LINK_RELS
        if tag == "style":
            self.style = []  # judged by its text at </style>
            return True
        return False

    def _attribute(self, tag: str, name: str, value: str) -> None:
        if name.startswith("on") or name in UNSAFE_ATTRIBUTES:
            self._problem(f"<{tag} {name}=…> attribute")
        elif name in URL_ATTRIBUTES or name.endswith(":href"):
            if unsafe_url(value):
                self._problem(f"<{tag} {name}={value[:80]!r}> URL")
        elif name in ("srcset", "imagesrcset"):
            for candidate in value.split(","):
                if unsafe_url(candidate.strip()):
                    self._problem(f"<{tag} {name}={value[:80]!r}> URL")


def html_problems(
    markup: str, *, document: bool = False, allowed_css: Collection[str] = ()
) -> list[str]:
    """Problems of an HTML fragment (Atom content) or, with ``document``, a whole page."""
    checker = _HtmlChecker(document=document, allowed_css=allowed_css)
    checker.feed(markup)
    checker.close()
    if checker.style is not None:
        checker.problems.append("<style> left open")
    return checker.problems


def _local(el: etree._Element) -> tuple[str, str]:
    q = etree.QName(el)
    return q.namespace or "", q.localname


def _own_stylesheet(node: etree._Element) -> bool:
    """feedhub's ``<?xml-stylesheet?>``: its feed.xsl by a path on the same site, nothing else."""
    return (
        isinstance(node, etree._ProcessingInstruction)
        and node.target == "xml-stylesheet"
        and node.get("type") == "text/xsl"
        and _OWN_XSL.fullmatch(node.get("href") or "") is not None
    )


def _xml_doc_problems(tree: etree._ElementTree, *, stylesheet: bool = False) -> list[str]:
    """DOCTYPEs (entity definitions) and processing instructions (xml-stylesheet), except
    feedhub's own stylesheet before an Atom document's root (``stylesheet``)."""
    problems = []
    if tree.docinfo.doctype:
        problems.append(f"DOCTYPE {tree.docinfo.doctype[:80]}")
    root = tree.getroot()
    before = list(root.itersiblings(preceding=True))
    own = [s for s in before if stylesheet and _own_stylesheet(s)][:1]
    siblings = [*before, *root.itersiblings()]
    problems += [
        f"top-level {s!r}" for s in siblings if not isinstance(s, etree._Comment) and s not in own
    ]
    return problems


def atom_problems(tree: etree._ElementTree) -> list[str]:
    """Every unsafe thing in an Atom document, plain-text titles included."""
    problems = _xml_doc_problems(tree, stylesheet=True)
    root = tree.getroot()
    if _local(root) != (ATOM_NS, "feed"):
        problems.append(f"root element is {root.tag}, not atom:feed")
    for el in root.iter():
        if not isinstance(el.tag, str):  # a comment or processing instruction
            if isinstance(el, etree._ProcessingInstruction):
                problems.append(f"processing instruction {el!r}")
            continue
        ns, name = _local(el)
        where = f"line {el.sourceline} <{name}>"
        for attr, value in el.attrib.items():
            attr_name = etree.QName(attr).localname
            if attr_name.startswith("on") or attr_name in UNSAFE_ATTRIBUTES:
                problems.append(f"{where}: {attr_name} attribute")
            if (attr_name in ("href", "src") or attr == XML_BASE) and unsafe_url(value):
                problems.append(f"{where}: {attr_name}={value[:80]!r}")
        if ns != ATOM_NS:
            if name in UNSAFE_ELEMENTS:
                problems.append(f"{where}: foreign element {el.tag}")
            continue
        if name in ("uri", "icon", "logo", "id") and unsafe_url(el.text or ""):
            # readers link atom:uri, show icon/logo, and some fall back to an id as a link
            problems.append(f"{where}: {(el.text or '')[:80]!r}")
        if name in ("title", "subtitle", "rights", "summary", "content"):
            problems += [f"{where}: {p}" for p in _text_construct_problems(el, name)]
    return problems


def _text_construct_problems(el: etree._Element, name: str) -> list[str]:
    kind = el.get("type", "text")
    if name == "title" and kind != "text":
        return [f'title is type="{kind}", not plain text']
    if kind == "text":
        return []  # plain text: the XML escaping is all a reader needs
    if kind == "html":
        return html_problems(el.text or "")
    if kind == "xhtml":
        inner = "".join(etree.tostring(child, encoding="unicode") for child in el)
        return html_problems(inner)
    return [f'unexpected type="{kind}"']


def opml_problems(tree: etree._ElementTree) -> list[str]:
    problems = _xml_doc_problems(tree)
    for el in tree.getroot().iter("outline"):
        for attr in ("xmlUrl", "htmlUrl", "url"):
            if unsafe_url(el.get(attr, "")):
                problems.append(f"outline {attr}={el.get(attr, '')[:80]!r}")
    return problems


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def parse_xml(path: Path) -> etree._ElementTree:
    """Parse a published XML file strictly (raises ``etree.XMLSyntaxError`` if ill-formed)."""
    return etree.parse(str(path), _PARSER)


@dataclass
class SiteReport:
    """What ``check_site`` looked at, for tests that also want to see it was not vacuous."""

    atom: list[Path] = field(default_factory=list)
    html: list[Path] = field(default_factory=list)
    opml: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check_site(out: Path, *, allowed_css: Collection[str] = ()) -> SiteReport:
    """Check every file under a published output folder; problems are collected, not raised.

    XML must be well-formed; Atom, HTML and OPML must be safe (see the module docstring).
    Validity against the RFC 4287 kit is the caller's job (one validator run for all files).
    """
    report = SiteReport()
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out)
        if path.name.startswith(".") and path.suffix == ".lock":
            continue  # the publisher's lock file (publish/lock.py): never served
        if path.name.startswith(".") and path.suffix == ".tmp":
            report.problems.append(f"{rel}: temporary file left behind")
            continue
        if path.suffix in (".atom", ".opml"):
            try:
                tree = parse_xml(path)
            except etree.XMLSyntaxError as exc:
                report.problems.append(f"{rel}: not well-formed XML: {exc}")
                continue
            is_atom = path.suffix == ".atom"
            (report.atom if is_atom else report.opml).append(path)
            found = atom_problems(tree) if is_atom else opml_problems(tree)
        elif path.suffix == ".html":
            report.html.append(path)
            text = path.read_bytes().decode("utf-8")  # raises on invalid UTF-8
            found = html_problems(text, document=True, allowed_css=allowed_css)
        elif str(rel) == STYLESHEET:
            # Only feedhub's own XSLT: it copies atom:content out unescaped, and that HTML
            # is what atom_problems checked in every feed.
            own = path.read_bytes() == render_stylesheet()
            found = [] if own else ["not feedhub's own stylesheet"]
        else:
            found = ["unexpected file type"]
        report.problems += [f"{rel}: {p}" for p in found]
    return report


def assert_safe(report: SiteReport, limit: int = 20) -> None:
    """Fail with the first ``limit`` problems of a report."""
    assert not report.problems, _summary(report.problems, limit)


def _summary(problems: Iterable[str], limit: int) -> str:
    items = list(problems)
    shown = "\n".join(items[:limit])
    return f"{len(items)} problem(s):\n{shown}"
