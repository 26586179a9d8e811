"""Pure text-quality metrics for generated samples (no models, no I/O).

The statistics of the original Lovecraft write-up (letter frequencies, word lengths, -ing/-ed/
-tion words, the share of "the"), the poet's 4-gram plagiarism check, poem line/stanza shape,
name novelty, duplicates, implausible openings and reinvented held-out names, a bigram
grammaticality check for stories, and a Witten-Bell smoothed bigram model used as the cheap
measured baseline of every model.

Words are :func:`bot.engine.ngrams.words_for_ngrams` tokens: lower-cased, starting with a letter.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import pairwise

import numpy as np

from bot.engine.name_filter import opening, openings_of
from bot.engine.ngrams import ngram_hashes, words_for_ngrams

LETTERS = string.ascii_lowercase
SUFFIXES = ("ing", "ed", "tion")
MAX_WORD_LENGTH = 15  # word-length histograms put longer words in the last bucket
_SENTENCE_END = re.compile(r"[.!?]+")


# ---------------------------------------------------------------------------------------------
# Distributions


def normalise(counts: Sequence[float] | np.ndarray) -> np.ndarray:
    """Counts as a probability vector (all zeros stay zeros)."""
    array = np.asarray(counts, dtype=np.float64)
    total = array.sum()
    return array / total if total > 0 else array


def total_variation(p: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray) -> float:
    """Total variation distance between two distributions (normalised first): 0 same, 1 disjoint."""
    return float(0.5 * np.abs(normalise(p) - normalise(q)).sum())


def js_divergence(p: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (normalised first): 0 same, 1 disjoint."""
    p, q = normalise(p), normalise(q)
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return 0.5 * kl(p) + 0.5 * kl(q)


# ---------------------------------------------------------------------------------------------
# Words and letters


def letter_counts(text: str) -> np.ndarray:
    """Counts of a-z in the text, case-folded; other characters are ignored."""
    counts = Counter(ch for ch in text.lower() if "a" <= ch <= "z")
    return np.array([counts[ch] for ch in LETTERS], dtype=np.int64)


def real_word_rate(words: Sequence[str], vocabulary: set[str] | frozenset[str]) -> float | None:
    """Share of ``words`` found in ``vocabulary``; None when there are no words."""
    if not words:
        return None
    return sum(1 for w in words if w in vocabulary) / len(words)


def word_length_counts(words: Iterable[str], max_length: int = MAX_WORD_LENGTH) -> np.ndarray:
    """Index i holds the number of words of length i+1; the last bucket is ``max_length``+."""
    counts = np.zeros(max_length, dtype=np.int64)
    for word in words:
        counts[min(len(word), max_length) - 1] += 1
    return counts


def suffix_counts(words: Sequence[str], suffixes: Sequence[str] = SUFFIXES) -> dict[str, int]:
    """Words ending in each suffix, with at least two letters before it ("bed" is no -ed word)."""
    return {s: sum(1 for w in words if w.endswith(s) and len(w) >= len(s) + 2) for s in suffixes}


def per_10k(count: int, total: int) -> float | None:
    """A count per 10,000 words, the original write-up's unit; None for no words."""
    return 10_000 * count / total if total else None


def word_share(words: Sequence[str], word: str = "the") -> float | None:
    """Share of ``words`` equal to ``word``; None when there are no words."""
    return sum(1 for w in words if w == word) / len(words) if words else None


def sentence_lengths(text: str) -> list[int]:
    """Words per sentence, sentences ending at . ! or ? (empty fragments are skipped)."""
    lengths = [len(words_for_ngrams(part)) for part in _SENTENCE_END.split(text)]
    return [n for n in lengths if n > 0]


def mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


# ---------------------------------------------------------------------------------------------
# Poems


def copied_ngram_share(texts: Iterable[str], corpus_hashes: np.ndarray) -> float | None:
    """The poet's plagiarism check: share of the texts' distinct word 4-grams (pooled) that
    occur in the corpus (sorted uint64 hashes from :func:`ngram_hashes`); None if no 4-grams."""
    parts = [ngram_hashes(text) for text in texts]
    hashes = np.unique(np.concatenate(parts)) if parts else np.empty(0, np.uint64)
    if hashes.size == 0:
        return None
    return float(np.isin(hashes, corpus_hashes, assume_unique=True).mean())


def poem_shape(text: str) -> dict[str, float]:
    """Lines, stanzas (blank-line separated), lines per stanza and words/characters per line."""
    stanzas = [
        [line for line in block.split("\n") if line.strip()]
        for block in re.split(r"\n[ \t]*\n", text.strip("\n"))
    ]
    stanzas = [s for s in stanzas if s]
    lines = [line for stanza in stanzas for line in stanza]
    return {
        "lines": float(len(lines)),
        "stanzas": float(len(stanzas)),
        "lines_per_stanza": len(lines) / len(stanzas) if stanzas else 0.0,
        "words_per_line": (sum(len(line.split()) for line in lines) / len(lines)) if lines else 0.0,
        "chars_per_line": (sum(len(line.strip()) for line in lines) / len(lines)) if lines else 0.0,
    }


# ---------------------------------------------------------------------------------------------
# Names


def novelty_rate(names: Sequence[str], known: set[str] | frozenset[str]) -> float | None:
    """Share of ``names`` (case-folded) not in ``known`` (case-folded); None for no names."""
    if not names:
        return None
    folded = {k.casefold() for k in known}
    return sum(1 for n in names if n.casefold() not in folded) / len(names)


def duplicate_rate(names: Sequence[str]) -> float | None:
    """Share of ``names`` that repeat an earlier one in the same batch; None for no names."""
    if not names:
        return None
    return 1.0 - len(set(names)) / len(names)


def implausible_opening_share(names: Sequence[str], training: Iterable[str]) -> float | None:
    """Share of names (of two or more characters) whose opening
    (:func:`bot.engine.name_filter.opening`) opens no training name: "sshley" when no
    training name starts with "ss"."""
    openings = openings_of(frozenset(training))
    judged = [opening(n) for n in names if len(n) >= 2]
    if not judged:
        return None
    return sum(1 for o in judged if o not in openings) / len(judged)


def reinvented_share(
    names: Sequence[str], heldout: Iterable[str], training: Iterable[str]
) -> float | None:
    """Share of names that are held-out names absent from training: the model reinventing
    real names it never saw, a sign of fit."""
    if not names:
        return None
    unseen = {h.casefold() for h in heldout} - {t.casefold() for t in training}
    return sum(1 for n in names if n.casefold() in unseen) / len(names)


# ---------------------------------------------------------------------------------------------
# Stories: bigram grammaticality


def bigram_set(sequences: Iterable[Sequence[str]]) -> set[tuple[str, str]]:
    """Every adjacent token pair within each sequence."""
    return {pair for seq in sequences for pair in pairwise(seq)}


def continuation_check(
    seed: Sequence[str],
    continuation: Sequence[str],
    known: set[tuple[str, str]],
    window: int = 5,
) -> dict[str, float | bool]:
    """Bigram check of a continuation, starting at the seam (last seed token, first new one).

    ``seam_seen``: the seam bigram occurs in training; ``seen_rate``: share of the
    continuation's bigrams (seam included) seen in training; ``grammatical``: the first
    ``window`` bigrams from the seam are all seen (and there are that many).
    """
    tokens = [*seed[-1:], *continuation]
    pairs = list(pairwise(tokens))
    if not pairs:
        return {"seam_seen": False, "seen_rate": 0.0, "grammatical": False}
    seen = [pair in known for pair in pairs]
    return {
        "seam_seen": bool(seed) and seen[0],
        "seen_rate": sum(seen) / len(seen),
        "grammatical": len(seen) >= window and all(seen[:window]),
    }


def bigram_seen_share(
    sequences: Iterable[Sequence[str]], known: set[tuple[str, str]]
) -> float | None:
    """Share of all adjacent token pairs (pooled over the sequences) that are in ``known``."""
    pairs = [pair for seq in sequences for pair in pairwise(seq)]
    return sum(1 for pair in pairs if pair in known) / len(pairs) if pairs else None


# ---------------------------------------------------------------------------------------------
# Baseline: Witten-Bell interpolated bigram model


def witten_bell_bigram_nats(train: np.ndarray, evaluate: np.ndarray, vocab_size: int) -> float:
    """Held-out cross-entropy (nats/token) of a Witten-Bell smoothed bigram model.

    Trained on the ``train`` token stream, scored on every transition of ``evaluate``:
    P(w|v) = (c(v,w) + T(v) P1(w)) / (c(v) + T(v)), T(v) = distinct followers of v, P1 the
    add-one unigram. Parameter-free, so nothing is tuned on the held-out data.
    """
    train = np.asarray(train, dtype=np.int64)
    evaluate = np.asarray(evaluate, dtype=np.int64)
    if evaluate.size < 2:
        raise ValueError("need at least two held-out tokens")
    unigram = (np.bincount(train, minlength=vocab_size) + 1.0) / (train.size + vocab_size)
    keys, pair_counts = np.unique(train[:-1] * vocab_size + train[1:], return_counts=True)
    prev_counts = np.bincount(train[:-1], minlength=vocab_size).astype(np.float64)
    followers = np.bincount(keys // vocab_size, minlength=vocab_size).astype(np.float64)

    prev, nxt = evaluate[:-1], evaluate[1:]
    query = prev * vocab_size + nxt
    pos = np.minimum(np.searchsorted(keys, query), max(keys.size - 1, 0))
    pair = np.where(keys[pos] == query, pair_counts[pos], 0) if keys.size else np.zeros(len(query))
    c_prev, t_prev = prev_counts[prev], followers[prev]
    p_uni = unigram[nxt]
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(c_prev > 0, (pair + t_prev * p_uni) / (c_prev + t_prev), p_uni)
    return float(-np.mean(np.log(p)))


def nats_to_bits(nats: float) -> float:
    return nats / math.log(2)


# ---------------------------------------------------------------------------------------------
# Summaries


def text_statistics(
    texts: Sequence[str],
    words: Sequence[str],
    vocabulary: set[str] | frozenset[str],
    unknown: int = 0,
) -> dict[str, object]:
    """The original write-up's statistics of some text, as JSON-ready values.

    ``words`` are the texts' words (lower-cased, letters first); ``unknown`` counts a word
    model's unknown-word tokens, which its decoded text drops: they lower the real-word rate
    and nothing else.
    """
    letters = np.zeros(len(LETTERS), dtype=np.int64)
    sentences: list[int] = []
    for text in texts:
        letters += letter_counts(text)
        sentences.extend(sentence_lengths(text))
    suffixes = suffix_counts(words)
    return {
        "words": len(words),
        "unknown_words": unknown,
        "real_word_rate": real_word_rate([*words, *[""] * unknown], vocabulary),
        "letter_counts": letters.tolist(),
        "word_length_counts": word_length_counts(words).tolist(),
        "mean_word_length": mean([len(w) for w in words]),
        "suffix_per_10k": {s: per_10k(n, len(words)) for s, n in suffixes.items()},
        "the_share": word_share(words, "the"),
        "mean_sentence_words": mean(sentences),
    }
