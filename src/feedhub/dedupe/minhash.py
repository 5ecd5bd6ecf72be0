"""MinHash signatures and LSH band keys over word 3-shingles (issue 4, item 3).

datasketch's MinHashLSH keeps its index in RAM (or Redis/Cassandra), so the band keys are
computed here as plain 64-bit ints and stored in a table by ``feedhub.store.dedupe``:
restarts keep them and memory does not grow with the store.

The signature is the one ``datasketch.MinHash(num_perm=NUM_PERM, seed=SEED,
hashfunc=identity)`` (scheme "affine32", datasketch ≥ 2.0) computes for our 32-bit shingle
hashes — a test checks it — computed with numpy directly because datasketch calls the hash
function once per item in a Python loop and builds permutations per sketch. datasketch is
a test dependency only (importing it costs ~0.4 s: scipy).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from functools import cache

import numpy as np
from numpy.typing import NDArray

from feedhub.dedupe.text import word_hashes as text_word_hashes

SHINGLE = 3  # word 3-shingles: measured P 0.998 / R 0.99 with the thresholds in decide.py
BANDS = 20
ROWS = 3
NUM_PERM = BANDS * ROWS
# LSH threshold ≈ (1/BANDS)^(1/ROWS) = 0.37: a pair at Jaccard 0.5 is a candidate with
# p = 1-(1-0.5^3)^20 = 0.93, at 0.6 with 0.992; verification (decide.py) keeps precision.
SEED = 1
LEAD_WORDS = 12  # a teaser and its full article share the first words of the body
_SIGNATURE_BATCH = 1 << 16  # shingles per product in many_band_keys: 60 × 256 KB at most

_U64 = np.uint64
_U32 = np.uint32
_MAX32 = _U32(0xFFFFFFFF)
# Odd 64-bit multipliers (from the golden ratio and splitmix64) to mix word hashes.
_K1, _K2, _K3 = _U64(0x9E3779B97F4A7C15), _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
_BAND_MULT = np.array([0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x2545F4914F6CDD1D], dtype=_U64)
_SHINGLE_MULT = np.array([_K1, _K2, _K3], dtype=_U64)
_BAND_ADD = np.arange(1, BANDS + 1, dtype=_U64) * _K1  # band index: see band_keys
_HIGH = 1 if sys.byteorder == "little" else 0  # index of a uint64's high half as 2 uint32
# numpy wraps integer *array* arithmetic modulo 2^n silently (only scalar math warns), so the
# array code below needs no np.errstate (entering one costs ~0.5 µs per call).

Shingles = NDArray[np.uint32]


@cache
def _permutations() -> tuple[NDArray[np.uint32], NDArray[np.uint32]]:
    """datasketch's own affine32 permutation parameters for (NUM_PERM, SEED), made once.

    Generated as ``datasketch.MinHash._init_permutations`` does (scheme "affine32"), without
    importing datasketch: it pulls in scipy, ~0.4 s at every process start. A test compares
    them with datasketch's (a test-only dependency).
    """
    gen = np.random.RandomState(SEED)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=_U32) * _U32(2) + _U32(1)  # odd multipliers
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=_U32)
    return a, b


def _fmix32(h: NDArray[np.uint32]) -> NDArray[np.uint32]:
    """MurmurHash3's 32-bit finalizer: datasketch's pre-mix before the permutations."""
    h = h ^ (h >> _U32(16))
    h *= _U32(0x85EBCA6B)  # in place: one temporary fewer per step
    h ^= h >> _U32(13)
    h *= _U32(0xC2B2AE35)
    h ^= h >> _U32(16)
    return h


def _mix(h: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """Mixed 64-bit hash of each window of SHINGLE consecutive words (``h``: contiguous, at
    least SHINGLE long): h[i]·K1 + h[i+1]·K2 + h[i+2]·K3 (mod 2^64), then mixed.

    The sum is one uint64 matrix product over overlapping windows (a strided view, no copy;
    numpy's integer matmul wraps like its elementwise ops): 3.6 instead of 4.3 µs per
    benchmark article for three products and two sums.
    """
    windows = np.ndarray((h.size - 2, SHINGLE), dtype=_U64, buffer=h, strides=(8, 8))
    mixed = windows @ _SHINGLE_MULT
    mixed ^= mixed >> _U64(29)
    mixed *= _K2
    return mixed


def shingle_hashes(word_hashes: NDArray[np.uint32]) -> Shingles:
    """32-bit hashes of the word 3-shingles, in text order (not unique).

    A text shorter than one shingle gives one shingle of all its words.
    """
    if word_hashes.size == 0:
        return np.empty(0, dtype=np.uint32)
    h = word_hashes.astype(_U64)
    if h.size < SHINGLE:
        h = np.concatenate([h, np.zeros(SHINGLE - h.size, dtype=_U64)])
    return (_mix(h) >> _U64(32)).astype(np.uint32)


def article_shingles(words: NDArray[np.uint32], n_title: int) -> Shingles:
    """``sorted_unique`` of the shingle hashes of the title ``words[:n_title]`` and, separately
    (no shingle spans the seam), of the body ``words[n_title:]``.

    One pass over both: the two windows across the seam are overwritten with a copy of the
    first shingle, which ``sorted_unique`` then drops. 7.7 instead of 16 µs per benchmark
    article (numpy's per-call overhead dominates at a few hundred words).
    """
    if n_title < SHINGLE or words.size - n_title < SHINGLE:  # padding cases: rare
        return sorted_unique(np.concatenate([shingle_hashes(words[:n_title]),
                                             shingle_hashes(words[n_title:])]))
    # The high halves of the mixed uint64s, as a strided uint32 view: no shift, no copy.
    high = _mix(words.astype(_U64)).view(_U32)[_HIGH::2]
    high[n_title - 2 : n_title] = high[0]
    return sorted_unique(high)


def many_article_shingles(items: Sequence[tuple[NDArray[np.uint32], int]]) -> list[Shingles]:
    """``article_shingles`` of each (words, n_title), the same arrays, with numpy's calls
    made once for all of them (issue 17: per article, the dozen calls on a few hundred
    values cost more than the arithmetic).

    The words of all articles are mixed as one sequence (the windows across two articles
    are dropped), and each article's sorted unique shingles come from one sort of
    (article index << 32 | shingle).
    """
    out: list[Shingles | None] = [None] * len(items)
    batch = []
    for i, (words, n_title) in enumerate(items):
        if n_title < SHINGLE or words.size - n_title < SHINGLE:  # padding cases: rare
            out[i] = article_shingles(words, n_title)
        else:
            batch.append(i)
    if batch:
        sizes = np.fromiter((items[i][0].size for i in batch), dtype=np.intp, count=len(batch))
        starts = np.cumsum(sizes) - sizes
        high = _mix(np.concatenate([items[i][0] for i in batch]).astype(_U64))
        high = high.view(_U32)[_HIGH::2]
        # Each article's first shingle over the two windows across its title/body seam
        # (as article_shingles), and which windows are an article's own.
        seams = starts + np.fromiter((items[i][1] for i in batch), dtype=np.intp,
                                     count=len(batch))
        first = high[starts]
        high[seams - 2] = first
        high[seams - 1] = first
        own = np.ones(high.size, dtype=bool)
        ends = starts + sizes
        own[ends[:-1] - 2] = False
        own[ends[:-1] - 1] = False
        owner = np.repeat(np.arange(len(batch), dtype=_U64), sizes - 2)
        keyed = np.sort((owner << _U64(32)) | high[own].astype(_U64))
        keep = np.empty(keyed.size, dtype=bool)
        keep[0] = True
        np.not_equal(keyed[1:], keyed[:-1], out=keep[1:])
        keyed = keyed[keep]
        bounds = np.searchsorted(keyed >> _U64(32), np.arange(len(batch) + 1, dtype=_U64))
        values = keyed.view(_U32)[1 - _HIGH :: 2]  # the low halves: the shingles
        for j, i in enumerate(batch):
            out[i] = values[bounds[j] : bounds[j + 1]].copy()
    return out  # type: ignore[return-value]


def many_band_keys(shingles: Sequence[Shingles]) -> list[list[int]]:
    """``band_keys(signature(sh))`` of each shingle set ([] for an empty one), the same keys,
    from one product for all of them (issue 17)."""
    out: list[list[int]] = [[] for _ in shingles]
    batch = [i for i, sh in enumerate(shingles) if sh.size]
    # At most ~_SIGNATURE_BATCH shingles per product: its matrix is NUM_PERM × that.
    lo = 0
    while lo < len(batch):
        hi, total = lo, 0
        while hi < len(batch) and (hi == lo or total + shingles[batch[hi]].size
                                   <= _SIGNATURE_BATCH):
            total += shingles[batch[hi]].size
            hi += 1
        part = batch[lo:hi]
        sizes = np.fromiter((shingles[i].size for i in part), dtype=np.intp, count=len(part))
        a, b = _permutations_columns()
        phv = a * _fmix32(np.concatenate([shingles[i] for i in part]).astype(_U32, copy=False))
        phv += b
        sigs = np.minimum.reduceat(phv, np.cumsum(sizes) - sizes, axis=1)  # NUM_PERM × n
        mixed = sigs.T.astype(_U64).reshape(len(part), BANDS, ROWS) @ _BAND_MULT
        mixed += _BAND_ADD
        mixed ^= mixed >> _U64(31)
        mixed *= _K3
        for i, keys in zip(part, mixed.view(np.int64).tolist(), strict=True):
            out[i] = keys
        lo = hi
    return out


def sorted_unique(h: NDArray[np.uint32]) -> Shingles:
    """``np.unique(h)`` for a 1-D array, ~4× faster on a few hundred values (np.unique's
    general machinery cost more than the sort)."""
    if h.size == 0:
        return h.astype(np.uint32)
    s = np.sort(h)
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def shingles(words: list[str]) -> Shingles:
    """Sorted unique shingle hashes of normalized words (see text.word_hashes)."""
    return sorted_unique(shingle_hashes(text_word_hashes(words)))


def signature(sh: Shingles) -> NDArray[np.uint32]:
    """MinHash signature (NUM_PERM values) of a shingle set, as datasketch computes it."""
    a, b = _permutations_columns()
    if sh.size == 0:
        return np.full(NUM_PERM, _MAX32, dtype=_U32)
    # (NUM_PERM, n) with the min along the contiguous axis: 11 vs 15 µs per benchmark
    # article for (n, NUM_PERM) with min(axis=0); uint32 wrap-around is the scheme's mod 2^32.
    phv = a * _fmix32(sh.astype(_U32, copy=False))
    phv += b
    return phv.min(axis=1)


@cache
def _permutations_columns() -> tuple[NDArray[np.uint32], NDArray[np.uint32]]:
    """``_permutations()`` as (NUM_PERM, 1) columns, to broadcast against a row of hashes."""
    a, b = _permutations()
    return a[:, None].copy(), b[:, None].copy()


def band_keys(sig: NDArray[np.uint32]) -> list[int]:
    """One signed 64-bit key per LSH band: equal key ⇔ equal band (up to 2^-64 collisions)."""
    mixed = sig.astype(_U64).reshape(BANDS, ROWS) @ _BAND_MULT  # uint64 dot: wraps mod 2^64
    mixed += _BAND_ADD  # band index: equal rows in different bands are different keys
    mixed ^= mixed >> _U64(31)
    mixed *= _K3
    return mixed.view(np.int64).tolist()


def lead_key(body: NDArray[np.uint32]) -> int | None:
    """Key of the body's first words (word hashes), so a teaser finds its full article (LSH
    cannot: their Jaccard is low). None for bodies shorter than LEAD_WORDS."""
    if body.size < LEAD_WORDS:
        return None
    head = body[:LEAD_WORDS].astype("<u4", copy=False).tobytes()  # no copy when native
    digest = hashlib.blake2b(b"lead" + head, digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)
