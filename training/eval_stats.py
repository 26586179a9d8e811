"""Samples drawn as the bot draws them, and their statistics against the training split.

Batched seeded sampling (one ORT call per step for all rows), text statistics (real words,
letters, word lengths, copied 4-grams, poem shape, story bigrams), the held-out documents'
own statistics as the human yardstick, and the targets checked at T=0.8.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
from tqdm import tqdm

from bot.engine.bundle import ModelBundle
from bot.engine.decode import Row, generate
from bot.engine.guard import Lexicon
from bot.engine.kinds import CorpusKind, KindName, Level
from bot.engine.name_chars import served_char_usage
from bot.engine.name_filter import NameFilter
from bot.engine.ngrams import ngram_hashes, words_for_ngrams
from bot.engine.sampling import SamplingParams
from bot.engine.tokenizer import split_words
from bot.products import KINDS, kind_for
from training import metrics
from training.data import Corpus
from training.eval_loss import EvaluationError
from training.report import Loss, NameResults, PoemStats, Target, TextResults, TextStats

TARGET_TEMPERATURE = 0.8
IMPLAUSIBLE_OPENINGS_MAX = 0.02  # names opening with a pair no training name opens with
PROMPT_WORDS = 3  # prompts: three held-out words (the original story model read three)
_SENTENCE_START = re.compile(r"(?:^|(?<=[.!?] ))([A-Z][a-z']* [a-z][\w'-]* [a-z][\w'-]*)", re.M)


def sample_batch(
    bundle: ModelBundle,
    starts: Sequence[Sequence[int]],
    params: SamplingParams,
    rngs: Sequence[np.random.Generator],
    max_tokens: int,
    *,
    desc: str,
    progress: bool,
) -> tuple[list[list[int]], list[bool]]:
    """Sample one sequence per start (up to ``max_tokens`` each, stopping at EOS) with the
    bot's own loop (``bot.engine.decode``): sample ``i`` is the token stream the scheduler
    serves for ``starts[i]``, ``params``, ``rngs[i]`` and an EOS stop. Returns the sampled
    ids (EOS excluded) and whether each row reached EOS."""
    eos = bundle.tokenizer.eos_id
    lexicon = Lexicon.of(bundle.tokenizer)  # the word guard every request of the bot has
    rows = [
        Row(np.asarray(start, np.int64), params, rng, max_tokens, frozenset({eos}), lexicon)
        for start, rng in zip(starts, rngs, strict=True)
    ]
    with tqdm(total=max_tokens, desc=desc, disable=not progress, leave=False) as bar:
        generate(bundle, rows, on_step=bar.update)
    ended = [row.history[-1] == eos for row in rows]
    samples = [
        row.history[:-1] if end else row.history for row, end in zip(rows, ended, strict=True)
    ]
    return samples, ended


def make_rngs(
    seed: int, temperature: float, count: int, salt: int = 0
) -> list[np.random.Generator]:
    """One generator per sample, seeded by (seed, temperature, salt, index)."""
    milli = round(temperature * 1000)
    return [np.random.default_rng([seed, milli, salt, i]) for i in range(count)]


def params_at(bundle: ModelBundle, temperature: float) -> SamplingParams:
    """What the bot samples with: the model's top-k/top-p defaults and the repetition guard
    of the kind its metadata implies (the registry's, as /write serves it), at the given
    temperature."""
    meta = bundle.meta
    return SamplingParams(
        temperature=temperature,
        top_k=meta.sampling.top_k,
        top_p=meta.sampling.top_p,
        repeat_limit=kind_for(meta.level, meta.corpus.kind).repeat_limit,
    )


def shown_filter(bundle: ModelBundle, style: str) -> NameFilter:
    """/name's filter at its default options, on the lists the bot reads from the model
    folder: the exported names (novelty) and the openings of the style's names, and the
    style's plausibility threshold from the metadata (if calibrated)."""
    kind = KINDS[KindName.NAMES]
    plausibility = bundle.meta.name_plausibility
    return NameFilter(
        kind.option("min").default,
        kind.option("max").default,
        known=bundle.training_names or frozenset(),
        openings=bundle.name_openings(style),
        min_score=plausibility.thresholds.get(style) if plausibility else None,
        chars=served_char_usage(bundle.names_by_style, plausibility, style),
    )


# ---------------------------------------------------------------------------------------------
# Text products: prose, poems, stories


@dataclass
class TextReference:
    """What samples are compared with: the training split's words, letters, 4-grams, bigrams."""

    vocabulary: frozenset[str]
    letters: np.ndarray
    word_lengths: np.ndarray
    train_hashes: np.ndarray  # poems only, else empty
    train_bigrams: set[tuple[str, str]]  # word level only, else empty
    cloud_words: list[str]


def model_tokens(bundle: ModelBundle, words: Sequence[str]) -> list[str]:
    """A word model's view of words: line breaks as its newline token, others as unknown."""
    special = bundle.meta.special_tokens
    index = bundle.tokenizer.index
    tokens = [special.newline if w == "\n" and special.newline else w for w in words]
    return [t if t in index else special.unknown for t in tokens]


def build_reference(bundle: ModelBundle, corpus: Corpus) -> TextReference:
    """The training split's words, letters, word lengths, 4-grams (poems) and bigrams (words)."""
    texts = [doc.text for doc in corpus.train]
    words = [w for text in texts for w in words_for_ngrams(text)]
    letters = sum((metrics.letter_counts(t) for t in texts), np.zeros(26, np.int64))
    hashes = np.empty(0, np.uint64)
    if corpus.kind == CorpusKind.POEMS:
        hashes = np.unique(np.concatenate([ngram_hashes(t) for t in texts]))
    bigrams: set[tuple[str, str]] = set()
    if bundle.meta.level == Level.WORD:
        bigrams = metrics.bigram_set([model_tokens(bundle, split_words(t)) for t in texts])
    return TextReference(
        vocabulary=frozenset(words),
        letters=letters,
        word_lengths=metrics.word_length_counts(words),
        train_hashes=hashes,
        train_bigrams=bigrams,
        cloud_words=words,
    )


def sample_words(bundle: ModelBundle, ids: Sequence[int]) -> tuple[list[str], int]:
    """The sample's words, and how many unknown-word tokens a word model produced."""
    tokenizer = bundle.tokenizer
    if bundle.meta.level == Level.CHAR:
        return words_for_ngrams(tokenizer.decode(ids)), 0
    words = [tokenizer.vocab[i] for i in ids if tokenizer.token_text(i)[:1].isalpha()]
    return words, sum(1 for i in ids if i == tokenizer.unknown_id)


def statistics_of(
    bundle: ModelBundle,
    texts: Sequence[str],
    ids: Sequence[Sequence[int]],
    reference: TextReference,
) -> TextStats:
    """Text statistics of samples (or encoded documents), compared with the training split."""
    words: list[str] = []
    unknown = 0
    for seq in ids:
        seq_words, seq_unknown = sample_words(bundle, seq)
        words += seq_words
        unknown += seq_unknown
    stats = metrics.text_statistics(texts, words, reference.vocabulary, unknown)
    return TextStats(**compare(stats, reference))


def compare(stats: dict[str, Any], reference: TextReference) -> dict[str, Any]:
    """Add distances to the training split's letter and word-length distributions."""
    letters, lengths = stats["letter_counts"], stats["word_length_counts"]
    stats["letter_tv"] = (
        metrics.total_variation(letters, reference.letters) if sum(letters) else None
    )
    stats["letter_js_bits"] = (
        metrics.js_divergence(letters, reference.letters) if sum(letters) else None
    )
    stats["word_length_tv"] = (
        metrics.total_variation(lengths, reference.word_lengths) if sum(lengths) else None
    )
    return stats


def poem_statistics(texts: Sequence[str], reference: TextReference) -> PoemStats:
    """Mean poem shape and the share of word 4-grams copied from the training split."""
    shapes = [metrics.poem_shape(t) for t in texts]
    keys = ("lines", "stanzas", "lines_per_stanza", "words_per_line", "chars_per_line")
    return PoemStats(
        **{f"mean_{k}": metrics.mean([s[k] for s in shapes if s["lines"]]) for k in keys},
        copied_4gram_share=metrics.copied_ngram_share(texts, reference.train_hashes),
    )


def story_seeds(corpus: Corpus, count: int, seed: int) -> list[list[str]]:
    """``count`` runs of three consecutive words from the held-out fables (seeded)."""
    rng = random.Random(seed)
    runs: list[list[str]] = []
    for doc in corpus.validation:
        tokens = split_words(doc.text)
        runs.extend(
            tokens[i : i + PROMPT_WORDS]
            for i in range(len(tokens) - PROMPT_WORDS + 1)
            if all(t[:1].isalpha() for t in tokens[i : i + PROMPT_WORDS])
        )
    if not runs:
        raise EvaluationError(f"{corpus.name}: no three-word runs in the held-out documents")
    return [rng.choice(runs) for _ in range(count)]


def prose_prompts(corpus: Corpus, count: int, seed: int) -> list[str]:
    """``count`` sentence openings (three words, as written) from the held-out stories:
    the bot's prose product always continues a user's prompt."""
    openings = [m.group(1) for doc in corpus.validation for m in _SENTENCE_START.finditer(doc.text)]
    if not openings:
        raise EvaluationError(f"{corpus.name}: no sentence openings in the held-out stories")
    rng = random.Random(seed)
    return [rng.choice(openings) for _ in range(count)]


class StoryFigures(TypedDict):
    """A word model's continuation figures (fields of TextStats)."""

    seam_bigram_seen: float | None
    bigram_seen_rate: float | None
    grammatical_continuations: float | None


def story_statistics(
    bundle: ModelBundle,
    seeds: Sequence[Sequence[str]],
    samples: Sequence[Sequence[int]],
    reference: TextReference,
) -> StoryFigures:
    """The bigram check of every continuation, averaged over the samples."""
    checks = []
    for seed_words, ids in zip(seeds, samples, strict=True):
        continuation = [bundle.tokenizer.vocab[i] for i in ids]
        checks.append(
            metrics.continuation_check(
                model_tokens(bundle, seed_words), continuation, reference.train_bigrams
            )
        )
    return {
        "seam_bigram_seen": metrics.mean([float(c["seam_seen"]) for c in checks]),
        "bigram_seen_rate": metrics.mean([float(c["seen_rate"]) for c in checks]),
        "grammatical_continuations": metrics.mean([float(c["grammatical"]) for c in checks]),
    }


def heldout_statistics(bundle: ModelBundle, corpus: Corpus, reference: TextReference) -> TextStats:
    """The statistics of the held-out documents: what human text scores on every metric."""
    texts = [doc.text for doc in corpus.validation]
    stats = statistics_of(bundle, texts, [bundle.tokenizer.encode(t).ids for t in texts], reference)
    if corpus.kind == CorpusKind.POEMS:
        stats = dataclasses.replace(stats, poem=poem_statistics(texts, reference))
    if bundle.meta.level == Level.WORD:
        seen = metrics.bigram_seen_share(
            [model_tokens(bundle, split_words(t)) for t in texts], reference.train_bigrams
        )
        stats = dataclasses.replace(stats, bigram_seen_rate=seen)
    return stats


def closest(values: Sequence[float], target: float) -> float:
    """The value nearest to ``target``."""
    return min(values, key=lambda v: abs(v - target))


def target(
    name: str, value: float | None, op: str, threshold: float, human: float | None = None
) -> Target:
    """A target and whether ``value`` meets it (None: not measured); ``human``: the same
    statistic of held-out human text, for context."""
    compare = {"<=": float.__le__, "<": float.__lt__, ">=": float.__ge__}[op]
    met = None if value is None else compare(float(value), threshold)
    return Target(target=name, value=value, op=op, threshold=threshold, met=met, human=human)


def check_targets(
    kind: CorpusKind, heldout: Loss, results: TextResults | NameResults
) -> list[Target]:
    """Each target with its measured value and whether it is met (None: not measured)."""
    if isinstance(results, NameResults):
        return name_targets(results) if kind == CorpusKind.NAMES else []
    at = {row.temperature: row.stats for row in results.temperatures}
    targets = _TEXT_TARGETS.get(kind)
    return targets(heldout, at.get(TARGET_TEMPERATURE), results.heldout_text) if targets else []


def _prose_targets(heldout: Loss, row: TextStats | None, human: TextStats) -> list[Target]:
    return [
        target("held-out loss (nats/char)", heldout.nats_per_token, "<=", 1.30),
        target(
            "real words at T=0.8",
            row.real_word_rate if row else None,
            ">=",
            0.95,
            human.real_word_rate,
        ),
    ]


def _poem_targets(heldout: Loss, row: TextStats | None, human: TextStats) -> list[Target]:
    copied = row.poem.copied_4gram_share if row and row.poem else None
    human_copied = human.poem.copied_4gram_share if human.poem else None
    return [target("copied word 4-grams at T=0.8", copied, "<=", 0.05, human_copied)]


# the targets of a text model at T=0.8, by corpus kind (stories have none yet)
_TEXT_TARGETS: dict[CorpusKind, Callable[[Loss, TextStats | None, TextStats], list[Target]]] = {
    CorpusKind.PROSE: _prose_targets,
    CorpusKind.POEMS: _poem_targets,
}


def name_targets(names: NameResults) -> list[Target]:
    """Per style at T=0.8: the names shown are novel, distinct, and open plausibly."""
    out = []
    for style_row in names.temperatures:
        if style_row.temperature != TARGET_TEMPERATURE:
            continue
        shown = f"{style_row.style}: names shown at T=0.8"
        out.append(target(f"{shown} that are novel", style_row.shown_novelty, ">=", 1.0))
        out.append(target(f"{shown} that repeat", style_row.shown_duplicates, "<=", 0.0))
        out.append(
            target(
                f"{shown} that open as no training name of the style does",
                style_row.shown_implausible_openings,
                "<=",
                IMPLAUSIBLE_OPENINGS_MAX,
            )
        )
    if not any(row.temperature == TARGET_TEMPERATURE for row in names.temperatures):
        out.append(target("names at T=0.8", None, ">=", 1.0))
    return out


# ---------------------------------------------------------------------------------------------
# Pictures (small PNGs)
