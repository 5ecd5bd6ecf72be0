"""List every text block of an HTML page, numbered, with its last tag path: a reading aid for
writing a page's expected article text by hand (benchmarks/data/fulltext/README.md).

Run: python benchmarks/data/fulltext/blocks.py PAGE.html [FIRST-LAST,N,...]

It decides nothing (the standard library's html.parser, no extractor): it prints all visible
text, block by block; given block numbers, it prints only those blocks, joined by blank
lines, which is how the expected texts here were written out once the blocks were chosen.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser

BLOCK = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "figcaption", "td", "div",
    "section", "article", "header", "footer", "aside", "nav", "ul", "ol", "figure", "main",
    "br", "dd", "dt", "pre", "table", "tr",
}
SKIP = {"script", "style", "noscript", "template", "svg"}
VOID = {"br", "img", "meta", "link", "input", "hr", "source", "area", "base", "col", "embed",
        "param", "track", "wbr"}


class Blocks(HTMLParser):
    """Collects (tag path, text) of each block of visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str]] = []
        self.buf: list[str] = []
        self.out: list[tuple[str, str]] = []
        self.skip = 0

    def flush(self) -> None:
        text = re.sub(r"\s+", " ", "".join(self.buf)).strip()
        if text:
            path = "/".join(f"{n}.{c.split()[0]}" if c.strip() else n
                            for n, c in self.stack[-4:])
            self.out.append((path, text))
        self.buf = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP:
            self.skip += 1
            return
        if tag in BLOCK:
            self.flush()
        if tag not in VOID:
            a = dict(attrs)
            self.stack.append((tag, a.get("class") or a.get("id") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if tag in BLOCK:
            self.flush()
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.buf.append(data)


def blocks(raw: bytes) -> list[tuple[str, str]]:
    m = re.search(rb"charset=[\"']?([\w-]+)", raw[:5000])
    try:
        text = raw.decode(m.group(1).decode() if m else "utf-8")
    except (LookupError, UnicodeDecodeError):
        text = raw.decode("utf-8", "replace")
    parser = Blocks()
    parser.feed(text)
    parser.flush()
    return parser.out


def main() -> None:
    found = blocks(open(sys.argv[1], "rb").read())  # noqa: SIM115 (a one-shot script)
    if len(sys.argv) < 3:
        for i, (path, text) in enumerate(found):
            print(f"{i:4} [{path[-70:]}] {text}")
        return
    keep: list[int] = []
    for part in sys.argv[2].split(","):
        first, _, last = part.partition("-")
        keep.extend(range(int(first), int(last or first) + 1))
    print("\n\n".join(found[i][1] for i in keep))


if __name__ == "__main__":
    main()
