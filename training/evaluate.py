"""Measure the exported models exactly as the bot serves them (ONNX through onnxruntime).

    python -m training.evaluate [--models-dir exported_models] [--only NAME ...] [--samples 64]
        [--temperatures 0.5 0.8 1.0] [--out reports] [--seed 0]

Per model it writes ``OUT/NAME.json`` and pictures:

- held-out loss (nats and bits per token) on the validation documents of the training split,
  stateful over the stream like the trainer's own evaluation, one ORT step per token;
- a Witten-Bell bigram baseline measured on the same split;
- per temperature, seeded samples drawn in batches (one ORT call per step for all of them)
  as the bot samples (top-k/top-p defaults, the product's repetition guard, never the
  unknown, BOS or style tokens), and their statistics: real words, letter and
  word-length distributions, -ing/-ed/-tion, "the", sentence length; poems add copied word
  4-grams and line/stanza shape; names are judged per style (novelty, duplicates, length);
  stories check seed continuations with training bigrams;
- the same statistics of the held-out documents, as the human yardstick;
- the issue's targets, checked at T=0.8.

Sample ``i`` at temperature ``T`` uses the seed ``(seed, T, i)``, so ``--only`` reproduces a
model's numbers from a full run.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import re
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bot.engine.bundle import ModelBundle, ModelLoadError
from bot.engine.ngrams import ngram_hashes, words_for_ngrams
from bot.engine.sampling import SamplingParams, banned_token, sample
from bot.engine.tokenizer import detokenize_words, split_words
from bot.products import kind_for
from training import metrics
from training.data import Corpus, CorpusError, batchify, build_vocab, encode_documents, load_corpus

TARGET_TEMPERATURE = 0.8
NAMES_BATCH = 100  # names per style and temperature, at least (the duplicate target's batch)
PROMPT_WORDS = 3  # prompts: three held-out words (the original story model read three)
STORY_LENGTH = 50  # tokens generated after each story seed
_SENTENCE_START = re.compile(r"(?:^|(?<=[.!?] ))([A-Z][a-z']* [a-z][\w'-]* [a-z][\w'-]*)", re.M)
EXAMPLES = 4  # samples kept per temperature in the report
EXAMPLE_CHARS = 700
NAME_EXAMPLES = 12
BAR_TEMPERATURE_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3")


class EvaluationError(RuntimeError):
    """A model cannot be evaluated (missing corpus, changed corpus, unloadable model)."""


@dataclass(frozen=True)
class Options:
    models_dir: Path
    out: Path
    samples: int
    temperatures: tuple[float, ...]
    seed: int
    threads: int
    progress: bool = True

    def command(self, name: str) -> str:
        """The command line that reproduces one model's report."""
        temps = " ".join(f"{t:g}" for t in self.temperatures)
        return (
            f"python -m training.evaluate --models-dir {self.models_dir} --only {name} "
            f"--samples {self.samples} --temperatures {temps} --seed {self.seed} --out {self.out}"
        )


# ---------------------------------------------------------------------------------------------
# The training split, rebuilt from the metadata


def load_training_corpus(bundle: ModelBundle) -> Corpus:
    """The corpus split exactly as in training; fails if the corpus changed since."""
    config = bundle.meta.training.config
    try:
        corpus = load_corpus(
            config["corpus_kind"],
            config["corpus_path"],
            name=config.get("name"),
            pattern=config.get("corpus_pattern", "*.txt"),
            validation_fraction=config["validation_fraction"],
            seed=config["split_seed"],
        )
    except (CorpusError, KeyError) as exc:
        raise EvaluationError(
            f"{bundle.json_path}: cannot rebuild the training split: {exc}"
        ) from None
    if corpus.sha256 != bundle.meta.corpus.sha256:
        raise EvaluationError(
            f"{config['corpus_path']}: corpus sha256 differs from {bundle.json_path.name} "
            "(the corpus changed since training)"
        )
    return corpus


# ---------------------------------------------------------------------------------------------
# Held-out loss through onnxruntime


def log_softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def heldout_loss(bundle: ModelBundle, stream: np.ndarray, rows: int, progress: bool) -> float:
    """Mean nats/token over ``rows`` parallel pieces of the stream, state carried throughout.

    The same rows and positions as the trainer's evaluation, but one step per ORT call
    (the exported model returns the last step's logits only).
    """
    grid = batchify(stream, rows, 1, source=f"{bundle.name} validation")
    h, c = bundle.initial_state(rows)
    total = 0.0
    picks = np.arange(rows)
    for t in tqdm(
        range(grid.shape[1] - 1), desc=f"{bundle.name} held-out", disable=not progress, leave=False
    ):
        logits, h, c = bundle.run(np.ascontiguousarray(grid[:, t : t + 1]), h, c)
        total -= float(log_softmax_rows(logits)[picks, grid[:, t + 1]].sum())
    return total / (rows * (grid.shape[1] - 1))


# ---------------------------------------------------------------------------------------------
# Batched sampling


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
    """Sample one sequence per start (up to ``max_tokens`` each, stopping at EOS).

    Each distinct start is primed once; then every step advances all unfinished rows in one
    ORT call. Returns the sampled ids (EOS excluded) and whether each row reached EOS.
    """
    eos = bundle.tokenizer.eos_id
    never = bundle.never_sampled
    primed: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for start in {tuple(s) for s in starts}:
        h0, c0 = bundle.initial_state(1)
        primed[start] = bundle.run(np.asarray([start], np.int64), h0, c0)
    logits = np.concatenate([primed[tuple(s)][0] for s in starts])
    h = np.concatenate([primed[tuple(s)][1] for s in starts], axis=1)
    c = np.concatenate([primed[tuple(s)][2] for s in starts], axis=1)
    out: list[list[int]] = [[] for _ in starts]
    ended = [False] * len(starts)
    active = np.arange(len(starts))
    with tqdm(total=max_tokens, desc=desc, disable=not progress, leave=False) as bar:
        for step in range(max_tokens):
            logits[:, never] = -np.inf
            nxt = np.array(
                [
                    sample(logits[j], params, rngs[i], banned_token(out[i], params.repeat_limit))
                    for j, i in enumerate(active)
                ]
            )
            for i, token in zip(active, nxt, strict=True):
                if token == eos:
                    ended[i] = True
                else:
                    out[i].append(int(token))
            keep = nxt != eos
            active, nxt = active[keep], nxt[keep]
            bar.update(1)
            if active.size == 0 or step == max_tokens - 1:
                break
            logits, h, c = bundle.run(
                nxt[:, None].astype(np.int64),
                np.ascontiguousarray(h[:, keep]),
                np.ascontiguousarray(c[:, keep]),
            )
    return out, ended


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
    if corpus.kind == "poems":
        hashes = np.unique(np.concatenate([ngram_hashes(t) for t in texts]))
    bigrams: set[tuple[str, str]] = set()
    if bundle.meta.level == "word":
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
    if bundle.meta.level == "char":
        return words_for_ngrams(tokenizer.decode(ids)), 0
    words = [tokenizer.vocab[i] for i in ids if tokenizer.token_text(i)[:1].isalpha()]
    return words, sum(1 for i in ids if i == tokenizer.unknown_id)


def statistics_of(
    bundle: ModelBundle,
    texts: Sequence[str],
    ids: Sequence[Sequence[int]],
    reference: TextReference,
) -> dict[str, Any]:
    """Text statistics of samples (or encoded documents), compared with the training split."""
    words: list[str] = []
    unknown = 0
    for seq in ids:
        seq_words, seq_unknown = sample_words(bundle, seq)
        words += seq_words
        unknown += seq_unknown
    stats = metrics.text_statistics(texts, words, reference.vocabulary, unknown)
    return compare(stats, reference)


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


def poem_statistics(texts: Sequence[str], reference: TextReference) -> dict[str, Any]:
    """Mean poem shape and the share of word 4-grams copied from the training split."""
    shapes = [metrics.poem_shape(t) for t in texts]
    keys = ("lines", "stanzas", "lines_per_stanza", "words_per_line", "chars_per_line")
    result: dict[str, Any] = {
        f"mean_{k}": metrics.mean([s[k] for s in shapes if s["lines"]]) for k in keys
    }
    result["copied_4gram_share"] = metrics.copied_ngram_share(texts, reference.train_hashes)
    return result


def story_seeds(corpus: Corpus, count: int, seed: int) -> list[list[str]]:
    """``count`` runs of three consecutive words from the held-out fables (seeded)."""
    rng = random.Random(seed)
    runs = []
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


def story_statistics(
    bundle: ModelBundle,
    seeds: Sequence[Sequence[str]],
    samples: Sequence[Sequence[int]],
    reference: TextReference,
) -> dict[str, Any]:
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


def heldout_statistics(
    bundle: ModelBundle, corpus: Corpus, reference: TextReference
) -> dict[str, Any]:
    """The statistics of the held-out documents: what human text scores on every metric."""
    texts = [doc.text for doc in corpus.validation]
    stats = statistics_of(bundle, texts, [bundle.tokenizer.encode(t).ids for t in texts], reference)
    if corpus.kind == "poems":
        stats.update(poem_statistics(texts, reference))
    if bundle.meta.level == "word":
        stats["bigram_seen_rate"] = metrics.bigram_seen_share(
            [model_tokens(bundle, split_words(t)) for t in texts], reference.train_bigrams
        )
    return stats


def evaluate_text(
    bundle: ModelBundle, corpus: Corpus, options: Options, report: dict[str, Any]
) -> None:
    """Sample at every temperature; fill the report with statistics, examples and pictures."""
    reference = build_reference(bundle, corpus)
    tokenizer = bundle.tokenizer
    word_level = bundle.meta.level == "word"
    seeds = story_seeds(corpus, options.samples, options.seed) if word_level else []
    prompts = [detokenize_words(s) for s in seeds]
    if corpus.kind == "prose":
        prompts = prose_prompts(corpus, options.samples, options.seed)
    # prose and stories continue prompts, as the bot does; poems start from the beginning
    opening = [tokenizer.eos_id, tokenizer.bos_id]
    if word_level:
        starts = [[*opening, *tokenizer.encode(" ".join(s)).ids] for s in seeds]
    elif prompts:
        starts = [[*opening, *tokenizer.encode(p).ids] for p in prompts]
    else:
        starts = [opening] * options.samples
    max_tokens = STORY_LENGTH if word_level else bundle.meta.sampling.max_tokens
    report["prompts"] = {
        "words": PROMPT_WORDS if prompts else 0,
        "max_tokens": max_tokens,
        "first": prompts[:EXAMPLES],
    }
    texts_by_t: dict[str, list[str]] = {}
    rows = []
    for temperature in options.temperatures:
        ids, ended = sample_batch(
            bundle,
            starts,
            params_at(bundle, temperature),
            make_rngs(options.seed, temperature, len(starts)),
            max_tokens,
            desc=f"{bundle.name} T={temperature:g}",
            progress=options.progress,
        )
        texts = [tokenizer.decode(s) for s in ids]
        stats = statistics_of(bundle, texts, ids, reference)
        stats["ended_share"] = sum(ended) / len(ended)
        if corpus.kind == "poems":
            stats.update(poem_statistics(texts, reference))
        if word_level:
            stats.update(story_statistics(bundle, seeds, ids, reference))
        if prompts:
            glue = " " if word_level else ""  # a char model's continuation has its spaces
            examples = [
                f"[{p}]{glue}{t}"[:EXAMPLE_CHARS]
                for p, t in zip(prompts[:EXAMPLES], texts, strict=False)
            ]
        else:
            examples = [t[:EXAMPLE_CHARS] for t in texts[:EXAMPLES]]
        rows.append({"temperature": temperature, "samples": len(ids), **stats})
        report.setdefault("examples", {})[f"{temperature:g}"] = examples
        texts_by_t[f"{temperature:g}"] = texts
    report["temperatures"] = rows
    report["heldout_text"] = heldout_statistics(bundle, corpus, reference)
    report["reference"] = {
        "letter_counts": reference.letters.tolist(),
        "word_length_counts": reference.word_lengths.tolist(),
    }
    figures = report.setdefault("figures", {})
    figures["letters"] = plot_letters(bundle.name, reference, rows, options.out)
    figures["word_lengths"] = plot_word_lengths(bundle.name, reference, rows, options.out)
    cloud_t = closest(options.temperatures, TARGET_TEMPERATURE)
    cloud_words = [w for t in texts_by_t[f"{cloud_t:g}"] for w in words_for_ngrams(t)]
    figures["wordcloud"] = plot_wordclouds(
        bundle.name, cloud_words, reference.cloud_words, cloud_t, options.out
    )


# ---------------------------------------------------------------------------------------------
# Names


def evaluate_names(
    bundle: ModelBundle, corpus: Corpus, options: Options, report: dict[str, Any]
) -> None:
    """Per style and temperature: novelty, duplicates and lengths of a batch of names."""
    tokenizer = bundle.tokenizer
    known = {doc.text for doc in corpus.train + corpus.validation}
    count = max(options.samples, NAMES_BATCH)
    styles = sorted(bundle.meta.special_tokens.styles)
    train_lengths = {
        style: [len(d.text) for d in corpus.train if d.style == style] for style in styles
    }
    max_len = max(max(v, default=1) for v in train_lengths.values())
    rows = []
    examples: dict[str, dict[str, list[str]]] = {}
    for temperature in options.temperatures:
        for style in styles:
            ids, ended = sample_batch(
                bundle,
                [[tokenizer.eos_id, tokenizer.style_id(style)]] * count,
                params_at(bundle, temperature),
                make_rngs(options.seed, temperature, count, salt=zlib.crc32(style.encode())),
                bundle.meta.sampling.max_tokens,
                desc=f"{bundle.name} {style} T={temperature:g}",
                progress=options.progress,
            )
            names = [tokenizer.decode(s).strip() for s in ids]
            nonempty = [n for n in names if n]
            lengths = [len(n) for n in nonempty]
            bins = max(max_len, max(lengths, default=1))
            rows.append(
                {
                    "temperature": temperature,
                    "style": style,
                    "samples": count,
                    "empty_share": 1 - len(nonempty) / count,
                    "unfinished_share": 1 - sum(ended) / count,
                    "novelty": metrics.novelty_rate(nonempty, known),
                    "duplicates": metrics.duplicate_rate(nonempty),
                    "mean_length": metrics.mean(lengths),
                    "train_mean_length": metrics.mean(train_lengths[style]),
                    "length_tv": metrics.total_variation(
                        np.bincount(lengths, minlength=bins + 1),
                        np.bincount(train_lengths[style], minlength=bins + 1),
                    )
                    if lengths
                    else None,
                    "length_counts": np.bincount(lengths, minlength=bins + 1).tolist(),
                }
            )
            examples.setdefault(f"{temperature:g}", {})[style] = nonempty[:NAME_EXAMPLES]
    report["temperatures"] = rows
    report["examples"] = examples
    report["reference"] = {
        "length_counts": {
            s: np.bincount(v, minlength=max_len + 1).tolist() for s, v in train_lengths.items()
        }
    }
    report.setdefault("figures", {})["name_lengths"] = plot_name_lengths(
        bundle.name, train_lengths, rows, options.out
    )


# ---------------------------------------------------------------------------------------------
# Targets (issue 7), checked at T=0.8


def closest(values: Sequence[float], target: float) -> float:
    """The value nearest to ``target``."""
    return min(values, key=lambda v: abs(v - target))


def check_targets(kind: str, report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured value and whether it is met (None: not measured)."""
    at = {row["temperature"]: row for row in report["temperatures"] if "style" not in row}
    measured_t = TARGET_TEMPERATURE in {row["temperature"] for row in report["temperatures"]}
    row = at.get(TARGET_TEMPERATURE, {})

    human = report.get("heldout_text", {})

    def target(
        name: str, value: float | None, op: str, threshold: float, key: str | None = None
    ) -> dict[str, Any]:
        """``key``: the same statistic of held-out human text, for context."""
        compare = {"<=": float.__le__, "<": float.__lt__, ">=": float.__ge__}[op]
        met = None if value is None else compare(float(value), threshold)
        result = {"target": name, "value": value, "op": op, "threshold": threshold, "met": met}
        return {**result, "human": human.get(key) if key else None}

    if kind == "prose":
        return [
            target("held-out loss (nats/char)", report["heldout"]["nats_per_token"], "<=", 1.30),
            target("real words at T=0.8", row.get("real_word_rate"), ">=", 0.95, "real_word_rate"),
        ]
    if kind == "poems":
        return [
            target(
                "copied word 4-grams at T=0.8",
                row.get("copied_4gram_share"),
                "<=",
                0.05,
                "copied_4gram_share",
            )
        ]
    if kind == "names":
        out = []
        for style_row in report["temperatures"]:
            if style_row["temperature"] != TARGET_TEMPERATURE:
                continue
            style = style_row["style"]
            out.append(target(f"{style}: novel names at T=0.8", style_row["novelty"], ">=", 0.80))
            out.append(
                target(
                    f"{style}: duplicates in a batch of {style_row['samples']} at T=0.8",
                    style_row["duplicates"],
                    "<",
                    0.05,
                )
            )
        if not measured_t:
            out.append(target("names at T=0.8", None, ">=", 0.80))
        return out
    return []


# ---------------------------------------------------------------------------------------------
# Pictures (small PNGs)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> str:
    """Save at 80 dpi with a 64-colour palette: a few tens of kB per chart."""
    from PIL import Image

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    _pyplot().close(fig)
    buffer.seek(0)
    Image.open(buffer).convert("RGB").quantize(colors=64).save(path, optimize=True)
    return path.name


def plot_letters(
    name: str, reference: TextReference, rows: Sequence[dict[str, Any]], out: Path
) -> str:
    """Letter frequencies of the training text and of the samples at each temperature."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3))
    series = [("training text", reference.letters.tolist())]
    series += [(f"T={r['temperature']:g}", r["letter_counts"]) for r in rows]
    width = 0.8 / len(series)
    x = np.arange(26)
    colours = ("#333333", *BAR_TEMPERATURE_COLOURS)
    for k, (label, counts) in enumerate(series):
        ax.bar(x + k * width, metrics.normalise(counts), width, label=label, color=colours[k % 6])
    ax.set_xticks(x + 0.4 - width / 2, list(metrics.LETTERS))
    ax.set_ylabel("share of letters")
    ax.set_title(f"{name}: letter frequencies, samples vs training text")
    ax.legend(fontsize=7, ncol=len(series))
    return _save(fig, out / f"{name}.letters.png")


def plot_word_lengths(
    name: str, reference: TextReference, rows: Sequence[dict[str, Any]], out: Path
) -> str:
    """Word-length distributions of the training text and the samples."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    x = np.arange(1, metrics.MAX_WORD_LENGTH + 1)
    ax.plot(x, metrics.normalise(reference.word_lengths), "k-o", ms=3, label="training text")
    for k, r in enumerate(rows):
        colour = BAR_TEMPERATURE_COLOURS[k % 5]
        share = metrics.normalise(r["word_length_counts"])
        ax.plot(x, share, "--", color=colour, label=f"T={r['temperature']:g}")
    ax.set_xlabel(f"word length (letters; {metrics.MAX_WORD_LENGTH} = that or longer)")
    ax.set_ylabel("share of words")
    ax.set_title(f"{name}: word lengths")
    ax.legend(fontsize=7)
    return _save(fig, out / f"{name}.word_lengths.png")


def plot_name_lengths(
    name: str,
    train_lengths: dict[str, list[int]],
    rows: Sequence[dict[str, Any]],
    out: Path,
) -> str:
    """Name-length distributions per style: training names and samples."""
    plt = _pyplot()
    styles = sorted(train_lengths)
    fig, axes = plt.subplots(1, len(styles), figsize=(3 * len(styles), 2.8), squeeze=False)
    for ax, style in zip(axes[0], styles, strict=True):
        train = np.bincount(train_lengths[style])
        ax.plot(np.arange(train.size), metrics.normalise(train), "k-o", ms=3, label="training")
        for k, r in enumerate(row for row in rows if row["style"] == style):
            counts = r["length_counts"]
            colour = BAR_TEMPERATURE_COLOURS[k % 5]
            ax.plot(
                np.arange(len(counts)),
                metrics.normalise(counts),
                "--",
                color=colour,
                label=f"T={r['temperature']:g}",
            )
        ax.set_title(style)
        ax.set_xlabel("characters")
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0][0].set_ylabel("share of names")
    axes[0][0].legend(fontsize=7)
    return _save(fig, out / f"{name}.name_lengths.png")


def plot_wordclouds(
    name: str, sample_words: Sequence[str], corpus_words: Sequence[str], t: float, out: Path
) -> str | None:
    """Word clouds of the samples (left) and of the training text (right), one small PNG."""
    from PIL import Image, ImageDraw, ImageFont
    from wordcloud import STOPWORDS, WordCloud

    def cloud(words: Sequence[str]) -> Image.Image | None:
        counts: dict[str, int] = {}
        for w in words:
            if w not in STOPWORDS and len(w) > 1:
                counts[w] = counts.get(w, 0) + 1
        if not counts:
            return None
        wc = WordCloud(
            width=360, height=220, background_color="white", max_words=80, random_state=0
        )
        return wc.generate_from_frequencies(counts).to_image()

    left, right = cloud(sample_words), cloud(corpus_words)
    if left is None or right is None:
        return None
    image = Image.new("RGB", (730, 240), "white")
    image.paste(left, (0, 20))
    image.paste(right, (370, 20))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=13)
    draw.text((4, 3), f"{name}: samples at T={t:g}", fill="black", font=font)
    draw.text((374, 3), f"{name}: training text", fill="black", font=font)
    path = out / f"{name}.wordcloud.png"
    image.quantize(colors=64).save(path, optimize=True)
    return path.name


# ---------------------------------------------------------------------------------------------
# One model


def model_summary(bundle: ModelBundle) -> dict[str, Any]:
    """The metadata figures the card shows beside the measurements."""
    meta = bundle.meta
    return {
        "level": meta.level,
        "kind": meta.corpus.kind,
        "vocab_size": meta.vocab_size,
        "architecture": meta.architecture.__dict__,
        "onnx_bytes": bundle.onnx_path.stat().st_size,
        "training": {k: v for k, v in meta.training.__dict__.items() if k != "config"},
        "sampling": meta.sampling.__dict__,
    }


def evaluate_model(json_path: Path, options: Options) -> dict[str, Any]:
    """Evaluate one exported model; writes OUT/NAME.json and pictures, returns the report."""
    started = time.monotonic()
    try:
        bundle = ModelBundle.load(json_path, threads=options.threads)
    except ModelLoadError as exc:
        raise EvaluationError(str(exc)) from None
    corpus = load_training_corpus(bundle)
    config = bundle.meta.training.config
    vocab, special = list(bundle.meta.vocab), bundle.meta.special_tokens
    if build_vocab(corpus, min_count=config.get("min_count", 1))[0] != vocab:
        raise EvaluationError(f"{json_path}: the corpus no longer yields the model's vocabulary")
    validation = encode_documents(corpus.validation, vocab, special)
    train = encode_documents(corpus.train, vocab, special)
    rows = int(config.get("eval_batch_size", 8))
    params = params_at(bundle, TARGET_TEMPERATURE)
    nats = heldout_loss(bundle, validation, rows, options.progress)
    baseline = metrics.witten_bell_bigram_nats(train, validation, len(vocab))
    report: dict[str, Any] = {
        "model": bundle.name,
        "onnx_sha256": bundle.meta.onnx_sha256,
        "command": options.command(bundle.name),
        "seed": options.seed,
        "samples": options.samples,
        "temperature_list": list(options.temperatures),
        "sampling_note": (
            f"temperature as listed, with the bot's top_k={params.top_k}, top_p={params.top_p} "
            f"and no token more than {params.repeat_limit} times in a row"
        ),
        **model_summary(bundle),
        "heldout": {
            "nats_per_token": nats,
            "bits_per_token": metrics.nats_to_bits(nats),
            "tokens": int(validation.size),
            "rows": rows,
            "documents": len(corpus.validation),
            "training_reported_nats": bundle.meta.training.validation_loss_nats,
        },
        "baselines": [
            {
                "name": "bigram (Witten-Bell), training split",
                "nats_per_token": baseline,
                "bits_per_token": metrics.nats_to_bits(baseline),
            }
        ],
        "figures": {},
    }
    if corpus.kind == "names":
        evaluate_names(bundle, corpus, options, report)
    else:
        evaluate_text(bundle, corpus, options, report)
    report["targets"] = check_targets(corpus.kind, report)
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    path = options.out / f"{bundle.name}.json"
    path.write_text(json.dumps(_finite(report), indent=1, ensure_ascii=False) + "\n", "utf-8")
    return report


def _finite(value: Any) -> Any:
    """JSON-safe: NaN/inf become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def find_models(models_dir: Path, only: Sequence[str] | None) -> list[Path]:
    """NAME.json files of exported models (those with an ``onnx_file``), filtered by ``only``."""
    found = []
    for path in sorted(models_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and "onnx_file" in data:
            found.append(path)
    if only:
        names = {p.stem: p for p in found}
        missing = [n for n in only if n not in names]
        if missing:
            raise EvaluationError(
                f"{models_dir}: no exported model named {', '.join(missing)} "
                f"(found: {', '.join(sorted(names)) or 'none'})"
            )
        return [names[n] for n in only]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    parser.add_argument("--models-dir", type=Path, default=Path("exported_models"))
    parser.add_argument("--only", nargs="+", metavar="NAME", help="evaluate only these models")
    parser.add_argument("--samples", type=int, default=64, help="samples per temperature")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.5, 0.8, 1.0])
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="ORT threads (0: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.samples < 1 or any(not 0 < t <= 5 for t in args.temperatures):
        parser.error("--samples must be >= 1 and temperatures in (0, 5]")
    options = Options(
        models_dir=args.models_dir,
        out=args.out,
        samples=args.samples,
        temperatures=tuple(args.temperatures),
        seed=args.seed,
        threads=args.threads,
        progress=not args.no_progress,
    )
    try:
        paths = find_models(args.models_dir, args.only)
    except EvaluationError as exc:
        print(f"evaluation failed: {exc}", file=sys.stderr)
        return 1
    if not paths:
        print(f"evaluation failed: {args.models_dir}: no exported models", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in paths:  # one broken model does not stop the others
        try:
            report = evaluate_model(path, options)
        except EvaluationError as exc:
            print(f"evaluation failed: {exc}", file=sys.stderr)
            failed += 1
            continue
        missed = [t["target"] for t in report["targets"] if t["met"] is False]
        print(
            f"{report['model']}: held-out {report['heldout']['nats_per_token']:.4f} nats/token "
            f"({report['heldout']['bits_per_token']:.3f} bits), {report['elapsed_s']:.0f} s"
            + (f"; misses: {'; '.join(missed)}" if missed else ""),
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
