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
  4-grams and line/stanza shape; names are judged per style (novelty, duplicates, length,
  implausible openings, reinvented held-out names, and what the bot's filter shows);
  stories check seed continuations with training bigrams;
- the same statistics of the held-out documents, as the human yardstick;
- the issue's targets, checked at T=0.8.

The work is split by kind: ``eval_loss`` (the training split rebuilt, held-out loss through
onnxruntime), ``eval_stats`` (batched sampling as the bot samples, statistics, targets) and
``eval_plots`` (pictures); this module runs them per model and writes the reports.

Sample ``i`` at temperature ``T`` uses the seed ``(seed, T, i)``, so ``--only`` reproduces a
model's numbers from a full run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.engine.bundle import ModelBundle, ModelLoadError
from bot.engine.ngrams import words_for_ngrams
from bot.engine.tokenizer import detokenize_words
from training import metrics
from training.data import Corpus, build_vocab, encode_documents
from training.eval_loss import EvaluationError, heldout_loss, load_training_corpus
from training.eval_plots import plot_letters, plot_name_lengths, plot_word_lengths, plot_wordclouds
from training.eval_stats import (
    PROMPT_WORDS,
    TARGET_TEMPERATURE,
    build_reference,
    check_targets,
    closest,
    heldout_statistics,
    make_rngs,
    params_at,
    poem_statistics,
    prose_prompts,
    sample_batch,
    shown_filter,
    statistics_of,
    story_seeds,
    story_statistics,
)

NAMES_BATCH = 100  # names per style and temperature, at least (the duplicate target's batch)
STORY_LENGTH = 50  # tokens generated after each story seed
EXAMPLES = 4  # samples kept per temperature in the report
EXAMPLE_CHARS = 700
NAME_EXAMPLES = 12


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
    """Per style and temperature: novelty, duplicates and lengths of a batch of names, what
    the bot's filter shows of it, implausible openings and reinvented held-out names."""
    tokenizer = bundle.tokenizer
    known = {doc.text for doc in corpus.train + corpus.validation}
    count = max(options.samples, NAMES_BATCH)
    styles = sorted(bundle.meta.special_tokens.styles)
    train_names = {style: [d.text for d in corpus.train if d.style == style] for style in styles}
    heldout_names = {
        style: [d.text for d in corpus.validation if d.style == style] for style in styles
    }
    train_lengths = {style: [len(n) for n in train_names[style]] for style in styles}
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
            finished = (n for n, done in zip(names, ended, strict=True) if done)
            shown = shown_filter(bundle, style).shown(finished)  # what /name lets through
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
                    "shown": len(shown),
                    "shown_novelty": metrics.novelty_rate(shown, known),
                    "shown_duplicates": metrics.duplicate_rate([n.casefold() for n in shown]),
                    "implausible_openings": metrics.implausible_opening_share(
                        nonempty, train_names[style]
                    ),
                    "shown_implausible_openings": metrics.implausible_opening_share(
                        shown, train_names[style]
                    ),
                    "heldout_reinvented": metrics.reinvented_share(
                        nonempty, heldout_names[style], train_names[style]
                    ),
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


def tail_loss(
    bundle: ModelBundle, corpus: Corpus, rows: int, progress: bool
) -> dict[str, Any] | None:
    """Loss on the contiguous tail (``tail_fraction``), or None for a model trained without."""
    if not corpus.tail:
        return None
    meta = bundle.meta
    stream = encode_documents(corpus.tail, list(meta.vocab), meta.special_tokens)
    nats = heldout_loss(bundle, stream, min(rows, max(1, stream.size // 2)), progress)
    return {
        "nats_per_token": nats,
        "bits_per_token": metrics.nats_to_bits(nats),
        "tokens": int(stream.size),
        "documents": len(corpus.tail),
        "fraction": meta.training.config["tail_fraction"],
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
        "heldout_tail": tail_loss(bundle, corpus, rows, options.progress),
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
