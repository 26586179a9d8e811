"""Hashed word 4-grams: the exporter stores the training corpus's, the poem generator checks them.

Both sides call :func:`ngram_hashes`, so they always agree on words and hashing. Words are
:func:`bot.engine.tokenizer.split_words` tokens that start with a letter (punctuation, numbers
and line breaks are skipped, so 4-grams run across lines), lower-cased; a 4-gram's hash is the
little-endian 64-bit BLAKE2b digest of its words joined by single spaces.
"""

from __future__ import annotations

import hashlib

import numpy as np

from bot.engine.tokenizer import split_words

N = 4


def words_for_ngrams(text: str) -> list[str]:
    return [w for w in split_words(text) if w[:1].isalpha()]


def hash_ngram(words: tuple[str, ...] | list[str]) -> int:
    digest = hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def ngram_hashes(text: str) -> np.ndarray:
    """Sorted unique uint64 hashes of the text's word 4-grams (empty if under 4 words)."""
    words = words_for_ngrams(text)
    hashes = [hash_ngram(words[i : i + N]) for i in range(len(words) - N + 1)]
    return np.unique(np.asarray(hashes, dtype=np.uint64))


def originality(text: str, corpus_hashes: np.ndarray) -> float | None:
    """Share of the text's distinct word 4-grams absent from ``corpus_hashes`` (sorted uint64).

    None when the text has fewer than four words, so there is nothing to compare.
    """
    hashes = ngram_hashes(text)
    if hashes.size == 0:
        return None
    if corpus_hashes.size == 0:
        return 1.0
    pos = np.searchsorted(corpus_hashes, hashes)
    found = corpus_hashes[np.minimum(pos, corpus_hashes.size - 1)] == hashes
    return float(1.0 - found.mean())
