"""Measure the exported models exactly as the bot serves them (ONNX through onnxruntime).

    python -m training.evaluate [--models-dir exported_models] [--only NAME ...] [--samples 64]
        [--temperatures 0.5 0.8 1.0] [--replies 200] [--out reports] [--seed 0]

Per model it writes ``OUT/NAME.json`` and pictures:

- held-out loss (nats and bits per token) on the validation documents of the training split,
  stateful over the stream like the trainer's own evaluation, one ORT step per token;
- a Witten-Bell bigram baseline measured on the same split;
- per temperature, seeded samples drawn in batches (one ORT call per step for all of them)
  as the bot samples (top-k/top-p defaults, the product's repetition guard, never the
  unknown, BOS or style tokens), and their statistics: real words, letter and
  word-length distributions, -ing/-ed/-tion, "the", sentence length; poems add copied word
  4-grams and line/stanza shape; names are judged per style (novelty, duplicates, length,
  implausible openings, reinvented held-out names, what the bot's filter shows, and the
  names its plausibility threshold drops; ``eval_names``);
  stories check seed continuations with training bigrams;
- the same statistics of the held-out documents, as the human yardstick;
- replies as users get them (``eval_replies``): sentence ends, doubled words and loops at
  temperatures 0, 0.5, 0.8, 1 and the model's default (``--replies`` per temperature);
- the issue's targets, checked at T=0.8.

The work is split by kind: ``eval_loss`` (the training split rebuilt, held-out loss through
onnxruntime), ``eval_stats`` (batched sampling as the bot samples, statistics, targets) and
``eval_plots`` (pictures); this module runs them per model and writes the reports.

Sample ``i`` at temperature ``T`` uses the seed ``(seed, T, i)``, so ``--only`` reproduces a
model's numbers from a full run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.engine.bundle import ModelBundle, ModelLoadError
from bot.engine.contract import TrainingFigures
from bot.engine.kinds import CorpusKind, Level
from bot.engine.ngrams import words_for_ngrams
from bot.engine.tokenizer import detokenize_words
from training import metrics
from training.data import Corpus, build_vocab, encode_documents
from training.eval_loss import EvaluationError, heldout_loss, load_training_corpus
from training.eval_names import evaluate_names
from training.eval_plots import plot_letters, plot_word_lengths, plot_wordclouds
from training.eval_replies import evaluate_replies, reply_targets
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
    statistics_of,
    story_seeds,
    story_statistics,
)
from training.report import (
    Baseline,
    Loss,
    ModelSummary,
    NameResults,
    Prompts,
    Report,
    TailLoss,
    TextCounts,
    TextResults,
    TextRow,
)

STORY_LENGTH = 50  # tokens generated after each story seed
EXAMPLES = 4  # samples kept per temperature in the report
EXAMPLE_CHARS = 700


@dataclass(frozen=True)
class Options:
    models_dir: Path
    out: Path
    samples: int
    temperatures: tuple[float, ...]
    seed: int
    threads: int
    progress: bool = True
    replies: int = 200

    def command(self, name: str) -> str:
        """The command line that reproduces one model's report."""
        temps = " ".join(f"{t:g}" for t in self.temperatures)
        return (
            f"python -m training.evaluate --models-dir {self.models_dir} --only {name} "
            f"--samples {self.samples} --temperatures {temps} --replies {self.replies} "
            f"--seed {self.seed} --out {self.out}"
        )


# ---------------------------------------------------------------------------------------------
# The training split, rebuilt from the metadata


def evaluate_text(
    bundle: ModelBundle, corpus: Corpus, options: Options
) -> tuple[TextResults, dict[str, str | None]]:
    """Sample at every temperature: the statistics and examples, and the pictures."""
    reference = build_reference(bundle, corpus)
    tokenizer = bundle.tokenizer
    word_level = bundle.meta.level == Level.WORD
    seeds = story_seeds(corpus, options.samples, options.seed) if word_level else []
    prompts = [detokenize_words(s) for s in seeds]
    if corpus.kind == CorpusKind.PROSE:
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
    texts_by_t: dict[str, list[str]] = {}
    examples_by_t: dict[str, list[str]] = {}
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
        stats = dataclasses.replace(stats, ended_share=sum(ended) / len(ended))
        if corpus.kind == CorpusKind.POEMS:
            stats = dataclasses.replace(stats, poem=poem_statistics(texts, reference))
        if word_level:
            stats = dataclasses.replace(stats, **story_statistics(bundle, seeds, ids, reference))
        if prompts:
            glue = " " if word_level else ""  # a char model's continuation has its spaces
            examples = [
                f"[{p}]{glue}{t}"[:EXAMPLE_CHARS]
                for p, t in zip(prompts[:EXAMPLES], texts, strict=False)
            ]
        else:
            examples = [t[:EXAMPLE_CHARS] for t in texts[:EXAMPLES]]
        rows.append(TextRow(temperature=temperature, samples=len(ids), stats=stats))
        examples_by_t[f"{temperature:g}"] = examples
        texts_by_t[f"{temperature:g}"] = texts
    results = TextResults(
        prompts=Prompts(
            words=PROMPT_WORDS if prompts else 0, max_tokens=max_tokens, first=prompts[:EXAMPLES]
        ),
        examples=examples_by_t,
        temperatures=rows,
        heldout_text=heldout_statistics(bundle, corpus, reference),
        reference=TextCounts(
            letter_counts=reference.letters.tolist(),
            word_length_counts=reference.word_lengths.tolist(),
        ),
    )
    cloud_t = closest(options.temperatures, TARGET_TEMPERATURE)
    cloud_words = [w for t in texts_by_t[f"{cloud_t:g}"] for w in words_for_ngrams(t)]
    figures = {
        "letters": plot_letters(bundle.name, reference, rows, options.out),
        "word_lengths": plot_word_lengths(bundle.name, reference, rows, options.out),
        "wordcloud": plot_wordclouds(
            bundle.name, cloud_words, reference.cloud_words, cloud_t, options.out
        ),
    }
    return results, figures


# ---------------------------------------------------------------------------------------------
# Targets (issue 7), checked at T=0.8


def model_summary(bundle: ModelBundle) -> ModelSummary:
    """The metadata figures the card shows beside the measurements."""
    meta = bundle.meta
    training = {k: v for k, v in meta.training.__dict__.items() if k != "config"}
    return ModelSummary(
        level=meta.level,
        kind=meta.corpus.kind,
        vocab_size=meta.vocab_size,
        architecture=meta.architecture,
        onnx_bytes=bundle.onnx_path.stat().st_size,
        training=TrainingFigures(**training),
        sampling=meta.sampling,
    )


def tail_loss(bundle: ModelBundle, corpus: Corpus, rows: int, progress: bool) -> TailLoss | None:
    """Loss on the contiguous tail (``tail_fraction``), or None for a model trained without."""
    if not corpus.tail:
        return None
    meta = bundle.meta
    stream = encode_documents(corpus.tail, list(meta.vocab), meta.special_tokens)
    nats = heldout_loss(bundle, stream, min(rows, max(1, stream.size // 2)), progress)
    return TailLoss(
        nats_per_token=nats,
        bits_per_token=metrics.nats_to_bits(nats),
        tokens=int(stream.size),
        documents=len(corpus.tail),
        fraction=meta.training.config["tail_fraction"],
    )


def evaluate_model(json_path: Path, options: Options) -> Report:
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
    heldout = Loss(
        nats_per_token=nats,
        bits_per_token=metrics.nats_to_bits(nats),
        tokens=int(validation.size),
        rows=rows,
        documents=len(corpus.validation),
        training_reported_nats=bundle.meta.training.validation_loss_nats,
    )
    tail = tail_loss(bundle, corpus, rows, options.progress)
    replies = None
    results: NameResults | TextResults
    if corpus.kind == CorpusKind.NAMES:
        results, picture = evaluate_names(bundle, corpus, options)
        figures = {"name_lengths": picture}
    else:
        results, figures = evaluate_text(bundle, corpus, options)
        if options.replies:
            replies = evaluate_replies(
                bundle, corpus, options.replies, options.seed, options.progress
            )
    targets = check_targets(corpus.kind, heldout, results)
    report = Report(
        model=bundle.name,
        onnx_sha256=bundle.meta.onnx_sha256,
        command=options.command(bundle.name),
        seed=options.seed,
        samples=options.samples,
        temperature_list=list(options.temperatures),
        sampling_note=(
            f"temperature as listed, with the bot's top_k={params.top_k}, top_p={params.top_p} "
            f"and no token more than {params.repeat_limit} times in a row"
        ),
        summary=model_summary(bundle),
        heldout=heldout,
        heldout_tail=tail,
        baselines=[
            Baseline(
                name="bigram (Witten-Bell), training split",
                nats_per_token=baseline,
                bits_per_token=metrics.nats_to_bits(baseline),
            )
        ],
        figures=figures,
        results=results,
        replies=replies,
        targets=targets + (reply_targets(replies) if replies else []),
        elapsed_s=round(time.monotonic() - started, 1),
    )
    report.write(options.out / f"{bundle.name}.json")
    return report


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
    parser.add_argument("--replies", type=int, default=200, help="replies per temperature")
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="ORT threads (0: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.samples < 1 or args.replies < 0 or any(not 0 < t <= 5 for t in args.temperatures):
        parser.error("--samples must be >= 1 and temperatures in (0, 5]")
    options = Options(
        models_dir=args.models_dir,
        out=args.out,
        samples=args.samples,
        temperatures=tuple(args.temperatures),
        seed=args.seed,
        threads=args.threads,
        progress=not args.no_progress,
        replies=args.replies,
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
        missed = [t.target for t in report.targets if t.met is False]
        held = report.heldout
        print(
            f"{report.model}: held-out {held.nats_per_token:.4f} nats/token "
            f"({held.bits_per_token:.3f} bits), {report.elapsed_s:.0f} s"
            + (f"; misses: {'; '.join(missed)}" if missed else ""),
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
