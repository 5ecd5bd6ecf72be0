"""Text vectors for Related News from the static embedding model bundled with ``wordllama``.

wordllama 0.4.0.post1 ships ``l2_supercat`` (256 dimensions) and its tokenizer inside its
wheel. Its loader looks for the tokenizer in ``wordllama/tokenizer/`` (the folder is
``tokenizers/``) and then downloads from Hugging Face; passing the package folder as
``cache_dir`` makes its cache lookup find both files, and ``disable_download`` turns any miss
into an error instead of a download. Without the package, scoring is lexical only (one warning).

Vectors are the mean of the token embeddings of the title and the start of the body (the
reference box needed the body: title-only vectors of full articles ranked distractors above
its Sahel story), whitespace collapsed, unit length, stored as float16 (512 bytes).
Tokens are pooled here, one text at a time, so a vector never depends on its batch-mates.

The text is tokenized word by word, each distinct word once per process (`_Words`). The
tokenizer (Llama BPE without a pre-tokenizer) otherwise runs over the whole text as one
sequence: 0.75 ms per generated article of 1,500 characters, most of the cost of ingest's
vectors. Its merges never cross the "▁" a space becomes, so word by word gives the ids of the
whitespace-collapsed text exactly (checked on 277 generated and labelled texts,
tests/test_related_semantic.py keeps it).
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from feedhub.util.text import html_to_text

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger(__name__)

MODEL_CONFIG = "l2_supercat"
DIMENSION = 256
# Stored beside every vector: a store whose vectors name another model recomputes them.
# Body characters embedded after the title: the lead paragraphs carry the story; the rest
# of a long article drifts and only costs tokenizing time.
BODY_CHARS = 3000
# An article with a lead (the feed's teaser beside its page's text: `related.text.lead_text`)
# is embedded as two unit directions, LEAD_SHARE × (title + lead) + (1 − LEAD_SHARE) × body,
# so a page of full text does not drown the title and teaser (issue 15; the share is
# measured with the term vectors' `VectorParams.lead_share`, see there).
LEAD_SHARE = 0.7
# Stored beside every vector: a store whose vectors name another model (or another text
# rule: "words" is the whitespace-collapsed text, BODY_CHARS of body; "lead" the lead's
# share) recomputes them, and re-weights the term vectors of the articles with a lead.
MODEL_ID = (f"wordllama-0.4.0.post1/{MODEL_CONFIG}/{DIMENSION}/words-{BODY_CHARS}"
            f"/lead-{LEAD_SHARE}")
# Distinct words a process keeps (~1 KB each, see `_Words`); past it the cache starts
# again (a parse worker of a long-running service sees an open vocabulary).
WORD_CACHE = 30_000


class _Missing:
    """Marks a model that could not be loaded (cached, so the warning is given once)."""


@lru_cache(maxsize=1)
def _load() -> Any:
    """The bundled model, or a `_Missing` after one warning when it cannot be loaded."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError as exc:
        warnings.warn(
            f"Related News: the wordllama package is not installed ({exc}); "
            "scoring by shared words only",
            RuntimeWarning,
            stacklevel=3,
        )
        return _Missing()
    finally:
        # `import wordllama` calls logging.basicConfig(level=INFO): undo it, logging is ours.
        root.handlers[:], root.level = handlers, level
    from pathlib import Path

    folder = Path(wordllama.__file__).parent
    try:
        return WordLlama.load(
            config=MODEL_CONFIG, dim=DIMENSION, cache_dir=folder, disable_download=True
        )
    except (OSError, ValueError) as exc:
        warnings.warn(
            f"Related News: cannot load the model bundled in {folder} ({exc}); "
            "scoring by shared words only",
            RuntimeWarning,
            stacklevel=3,
        )
        return _Missing()


def available() -> bool:
    """Whether text vectors can be computed here (the model package is installed and loads)."""
    return not isinstance(_load(), _Missing)


def model_id() -> str | None:
    """The id stored with vectors computed here, or None when there is no model."""
    return MODEL_ID if available() else None


def embed_text(text: str) -> tuple[NDArray[np.float32], int] | None:
    """Unit vector of ``text`` (whitespace collapsed) and its token count (None without a
    model or tokens)."""
    made = _direction(text)
    return None if made is None else (made[0].astype(np.float32), made[1])


def embed_texts(texts: Sequence[str]) -> list[tuple[NDArray[np.float32], int] | None]:
    """`embed_text` of each text, the same bytes; the texts' new words are tokenized and
    added to the word cache in one pass first.

    Issue 17: a parse worker meets new words in almost every article of its first feeds
    (16,900 distinct words in 10,000 generated teasers), and adding them article by article
    cost ~35 µs per new word in numpy calls on a handful of rows; one pass per feed costs
    the tokenizer call and little else. A word's cached sum does not depend on its batch.
    """
    model = _load()
    if isinstance(model, _Missing):
        return [None] * len(texts)
    counts = [Counter(text.split()) for text in texts]
    distinct = list(dict.fromkeys(w for c in counts for w in c))
    if len(distinct) > WORD_CACHE:  # more than the cache holds: text by text
        return [embed_text(text) for text in texts]
    words = _Words.of(model, room=len(distinct))
    words.add(distinct)
    out: list[tuple[NDArray[np.float32], int] | None] = []
    for c in counts:
        made = _pooled(words, c) if c else None
        out.append(None if made is None else (made[0].astype(np.float32), made[1]))
    return out


def _direction(text: str) -> tuple[NDArray[np.float64], int] | None:
    """`embed_text`'s unit vector before its float32 rounding, and the token count."""
    model = _load()
    if isinstance(model, _Missing):
        return None
    counts = Counter(text.split())
    if not counts:
        return None
    words = _Words.of(model, room=len(counts))
    words.add(list(counts))
    return _pooled(words, counts)


def _pooled(words: _Words, counts: Counter[str]) -> tuple[NDArray[np.float64], int] | None:
    """The unit mean of the token rows of a text's words (``counts``, all in ``words``)."""
    rows = words.rows(list(counts))
    weights = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
    tokens = int(weights @ words.tokens[rows])
    if tokens == 0:
        return None
    # The sum of the token rows: each word's sum, counted as often as the word occurs.
    total = dots(words.sums[rows].T, weights).astype(np.float64)
    norm = float(np.linalg.norm(total))
    if norm == 0.0:
        return None
    return total / norm, tokens


class _Words:
    """Each distinct word seen in this process: its token count and the sum of its tokens'
    embedding rows (float32), so an article gathers one row per distinct word rather than
    one per token. At most WORD_CACHE words (~1 KB each); then it starts again."""

    _current: _Words | None = None

    def __init__(self, model: Any) -> None:
        self.model = model
        self.index: dict[str, int] = {}
        self.sums = np.zeros((1024, DIMENSION), dtype=np.float32)
        self.tokens = np.zeros(1024, dtype=np.float32)

    @classmethod
    def of(cls, model: Any, room: int) -> _Words:
        """The cache, with room for ``room`` more words (rows stay valid until the next
        call: one text, or one `embed_texts` batch)."""
        if (
            cls._current is None
            or cls._current.model is not model
            or len(cls._current.index) + room > WORD_CACHE
        ):
            cls._current = cls(model)
        return cls._current

    def add(self, words: list[str]) -> None:
        """Add those of ``words`` (distinct) not cached yet, in one pass.

        Issue 17: a fresh process meets thousands of new words in its first articles, and
        adding them one at a time cost ~0.1 ms each in numpy calls on a handful of values
        (half of a fresh `feedhub fetch`'s vector time). Now the tokenizer still sees each
        word alone (a word's ids must not depend on its neighbours), but their rows are
        gathered and summed in one go: the same float32 sums, row by row in token order.
        """
        index = self.index
        new = [w for w in words if w not in index]
        if new:
            self._add(new)

    def rows(self, words: list[str]) -> NDArray[np.intp]:
        """The rows of ``words`` (distinct, all added)."""
        index = self.index
        return np.fromiter(map(index.__getitem__, words), dtype=np.intp, count=len(words))

    def _add(self, new: list[str]) -> None:
        start = len(self.index)
        end = start + len(new)
        while end > len(self.tokens):
            self.sums = np.concatenate([self.sums, np.zeros_like(self.sums)])
            self.tokens = np.concatenate([self.tokens, np.zeros_like(self.tokens)])
        for i, w in enumerate(new, start):
            self.index[w] = i
        table = self.model.embedding
        encode = self.model.tokenizer.encode
        ids = [encode(w, add_special_tokens=False).ids for w in new]
        lengths = np.fromiter(map(len, ids), dtype=np.intp, count=len(ids))
        flat = np.fromiter((t for x in ids for t in x), dtype=np.intp, count=int(lengths.sum()))
        np.clip(flat, 0, table.shape[0] - 1, out=flat)
        self.tokens[start:end] = lengths
        self.sums[start:end] = 0.0
        some = lengths > 0  # reduceat cannot sum an empty run: those rows stay 0
        if flat.size:
            offsets = (np.cumsum(lengths) - lengths)[some]
            self.sums[start:end][some] = np.add.reduceat(
                table[flat], offsets, axis=0, dtype=np.float32
            )


def article_text(title: str, body_text: str) -> str:
    """What is embedded for an article: the title, then the start of the plain-text body."""
    return f"{title.strip()}\n{body_text.strip()[:BODY_CHARS]}".strip()


def embed_article(
    title: str, body_text: str, lead_text: str = ""
) -> tuple[NDArray[np.float32], int] | None:
    """An article's vector and token count from its title and plain-text body, and its lead
    when it has one (`related.text.lead_text`): then the title and lead take LEAD_SHARE."""
    if lead_text.strip():
        head = _direction(f"{title.strip()}\n{lead_text.strip()}")
        body = _direction(body_text.strip()[:BODY_CHARS])
        if head is not None and body is not None:
            mixed = LEAD_SHARE * head[0] + (1.0 - LEAD_SHARE) * body[0]
            norm = float(np.linalg.norm(mixed))
            if norm > 0.0:
                return (mixed / norm).astype(np.float32), head[1] + body[1]
    text = article_text(title, body_text)
    return embed_text(text) if text else None


def article_vectors(
    articles: Sequence[tuple[str, str, str]],
) -> list[tuple[int, bytes] | None]:
    """(token count, blob) as stored of each (title, summary, content): the title and the
    plain text of the content, else of the summary. None when the model package is not
    installed (checked quietly: the publisher gives the one warning).

    The parse workers call it for a feed's articles at once, so their new words reach the
    model in one pass (issue 17); it lives here, not in `vectors`, so a worker imports no
    SQL modules (~0.23 s of CPU each per `feedhub fetch`).
    """
    if not articles or not installed() or not available():
        return [None] * len(articles)
    texts = [
        article_text(title, html_to_text(content) or html_to_text(summary))
        for title, summary, content in articles
    ]
    return [
        (0, b"") if made is None else (made[1], to_blob(made[0]))
        for made in embed_texts(texts)
    ]


def installed() -> bool:
    """Whether the model package is installed, without importing it (no warning)."""
    from importlib.util import find_spec

    try:
        return find_spec("wordllama") is not None
    except ValueError:  # a None in sys.modules: the import is blocked
        return False


def to_blob(vector: NDArray[np.float32]) -> bytes:
    """Compact storage form: little-endian float16 (512 bytes at 256 dimensions)."""
    return vector.astype("<f2").tobytes()


def from_blob(blob: bytes) -> NDArray[np.float32]:
    """A stored vector back as float32 (re-normalized: float16 rounding moves the length)."""
    return from_blobs([blob])[0]


def from_blobs(blobs: list[bytes]) -> NDArray[np.float32]:
    """Stored vectors as the rows of one matrix, each re-normalized (float16 rounding moves
    the length); an empty row (a text without tokens) is zeros, so its cosines are 0."""
    empty = bytes(2 * DIMENSION)
    joined = b"".join(b or empty for b in blobs)
    m = np.frombuffer(joined, dtype="<f2").astype(np.float32).reshape(len(blobs), DIMENSION)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1.0, norms)


def dots(rows: NDArray[np.floating], query: NDArray[np.floating]) -> NDArray[np.floating]:
    """``rows @ query`` on this thread. numpy's BLAS spreads a large product over threads
    that spin waiting for each other: on 2 busy cores a 5,000-row product took 1.7 ms of
    CPU that way and 0.4 ms here."""
    return np.einsum("ij,j->i", rows, query)


def raw_cosines(query: NDArray[np.float32], rows: NDArray[np.float32]) -> NDArray[np.float64]:
    """Cosine of ``query`` with every row, unrounded (callers round as `score.rounded` does)."""
    return dots(rows.astype(np.float64), query.astype(np.float64))
