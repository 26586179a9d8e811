"""Set /name's plausibility threshold per style from real names the model never trained on.

    python -m training.calibrate_names exported_models/names.json [--quantile 0.05]
        [--precision int8] [--corpus ../shared/corpora/names]

A name's score is its mean log-likelihood per character (``bot.engine.name_score``), as the
bot computes it. Per style, the threshold is the ``quantile`` of the scores of the held-out
names (the random held-out documents of the training split, rebuilt from the metadata's
config, from ``--corpus`` if given, and refused if the corpus changed since training), so
about ``1 - quantile`` of them pass. Names with a character outside the vocabulary cannot be
sampled at all and are left out. The thresholds are written into the metadata's
``name_plausibility`` (the rest of the file unchanged, replaced atomically); the contiguous
tail of held-out names, if any, is scored too and printed as a second check.

The character check of the Han styles (``bot.engine.name_chars``) is set by the same rule:
per style, the largest ``K`` (up to 8) whose check passes at least ``1 - quantile`` of the
held-out names the model can spell, counting the characters of the training names only (the
bot counts every exported name); a style where even ``K = 1`` passes fewer is not judged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bot.engine.bundle import ModelBundle, ModelLoadError
from bot.engine.contract import load_metadata
from bot.engine.name_chars import CharUsage, char_usage
from bot.engine.name_score import name_scores
from training.atomic import replacing
from training.data import Corpus, CorpusError, Document, load_training_split
from training.eval_loss import EvaluationError, load_training_corpus

QUANTILE = 0.05
MAX_CHAR_MIN_NAMES = 8


def spelled(bundle: ModelBundle, docs: list[Document], style: str) -> list[tuple[str, list[int]]]:
    """The names of ``style`` in ``docs`` that the model can spell, with their token ids."""
    encoded = [(d.text, bundle.tokenizer.encode(d.text)) for d in docs if d.style == style]
    return [(text, e.ids) for text, e in encoded if not e.unknown and e.ids]


def style_scores(bundle: ModelBundle, docs: list[Document], style: str) -> np.ndarray:
    """The scores of the names of ``style`` in ``docs`` that the model can spell."""
    tokenizer = bundle.tokenizer
    start = [tokenizer.eos_id, tokenizer.style_id(style)]
    return name_scores(
        bundle, start, [ids for _, ids in spelled(bundle, docs, style)], tokenizer.eos_id
    )


def train_char_usage(train: list[Document], style: str, min_names: int) -> CharUsage | None:
    """The character check of ``style`` counting the ``train`` names only (None: not a Han
    style or no names of it)."""
    by_style: dict[str, set[str]] = {}
    for doc in train:
        by_style.setdefault(str(doc.style), set()).add(doc.text.casefold())  # names have one
    return char_usage(by_style, style, min_names)


def chars_passed(usage: CharUsage, names: list[str]) -> float:
    """The share of ``names`` the character check passes."""
    return float(np.mean([usage.rare(name.casefold()) is None for name in names]))


def calibrate_chars(
    bundle: ModelBundle, train: list[Document], heldout: list[Document], quantile: float
) -> tuple[dict[str, int], dict[str, float]]:
    """Per Han style, the largest ``K`` whose check passes ``1 - quantile`` of the spelled
    held-out names, and the share it passes."""
    min_names: dict[str, int] = {}
    passed: dict[str, float] = {}
    for style in sorted(bundle.meta.special_tokens.styles):
        names = [name for name, _ in spelled(bundle, heldout, style)]
        for k in range(MAX_CHAR_MIN_NAMES, 0, -1):
            usage = train_char_usage(train, style, k)
            if usage is None or not names:
                break
            share = chars_passed(usage, names)
            if share >= 1 - quantile:
                min_names[style], passed[style] = k, share
                break
    return min_names, passed


def calibrate(
    bundle: ModelBundle,
    heldout: list[Document],
    quantile: float = QUANTILE,
    train: list[Document] | None = None,
) -> dict[str, Any]:
    """The metadata's ``name_plausibility`` for ``bundle``, from the names in ``heldout``
    (and the character check from ``train``'s names, when given)."""
    thresholds: dict[str, float] = {}
    counts: dict[str, int] = {}
    passed: dict[str, float] = {}
    for style in sorted(bundle.meta.special_tokens.styles):
        scores = style_scores(bundle, heldout, style)
        if not scores.size:
            continue
        # the highest threshold that still passes at least 1 - quantile of the names
        threshold = float(np.quantile(scores, quantile, method="lower"))
        thresholds[style] = threshold
        counts[style] = int(scores.size)
        passed[style] = float(np.mean(scores >= threshold))
    plausibility = {
        "thresholds": thresholds,
        "quantile": quantile,
        "precision": bundle.precision,
        "heldout_names": counts,
        "heldout_passed": passed,
    }
    if train is not None:
        min_names, chars = calibrate_chars(bundle, train, heldout, quantile)
        plausibility.update(char_min_names=min_names, char_heldout_passed=chars)
    return plausibility


def write_plausibility(json_path: Path, plausibility: dict[str, Any]) -> None:
    """Set ``name_plausibility`` in ``json_path``, every other field as it was; atomic."""
    data = json.loads(json_path.read_text("utf-8"))
    data["name_plausibility"] = plausibility
    text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    with replacing(json_path) as tmp:
        tmp.write_text(text, "utf-8")
        load_metadata(tmp)  # never replace a loadable file with one that is not


def print_chars(bundle: ModelBundle, corpus: Corpus, style: str, k: int | None) -> None:
    """One line on the character check of ``style`` (nothing for a style it cannot judge)."""
    usage = train_char_usage(corpus.train, style, k or 1)
    if usage is None:
        return
    shares = []
    for docs in (corpus.validation, corpus.tail):
        names = [name for name, _ in spelled(bundle, docs, style)]
        shares.append(f"{chars_passed(usage, names):.1%} of {len(names)}" if names else "n/a")
    rule = (
        f"K = {k}: a character after the first used by at least {k} training names of the "
        f"style or {2 * k} of the Han styles"
        if k
        else "not judged: even K = 1"
    )
    print(f"{style} characters: {rule}; held-out names passing {shares[0]}, tail {shares[1]}")


def heldout_corpus(bundle: ModelBundle, path: Path | None) -> Corpus:
    """The model's training split, read from ``path`` instead of the config's corpus path
    if given; refused if the corpus is not the one the model trained on."""
    if path is None:
        return load_training_corpus(bundle)
    try:
        corpus = load_training_split({**bundle.meta.training.config, "corpus_path": str(path)})
    except (CorpusError, KeyError) as exc:
        raise EvaluationError(f"{path}: cannot rebuild the training split: {exc}") from None
    if corpus.sha256 != bundle.meta.corpus.sha256:
        raise EvaluationError(f"{path}: not the corpus {bundle.json_path.name} trained on")
    return corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.calibrate_names", description=__doc__)
    parser.add_argument("model", type=Path, help="the names model's NAME.json")
    parser.add_argument("--quantile", type=float, default=QUANTILE)
    parser.add_argument("--precision", choices=("fp32", "int8"), default="int8")
    parser.add_argument("--corpus", type=Path, help="the names corpus (default: as in training)")
    args = parser.parse_args(argv)
    if not 0 < args.quantile < 1:
        parser.error("--quantile must be in (0, 1)")
    try:
        bundle = ModelBundle.load(args.model, precision=args.precision)
        if not bundle.meta.special_tokens.styles:
            raise EvaluationError(f"{args.model}: not a names model (it has no styles)")
        corpus = heldout_corpus(bundle, args.corpus)
        plausibility = calibrate(bundle, corpus.validation, args.quantile, corpus.train)
    except (ModelLoadError, EvaluationError) as exc:
        print(f"calibration failed: {exc}", file=sys.stderr)
        return 1
    for style, threshold in plausibility["thresholds"].items():
        tail = style_scores(bundle, corpus.tail, style)
        tail_note = f", tail {np.mean(tail >= threshold):.1%} of {tail.size}" if tail.size else ""
        print(
            f"{style}: threshold {threshold:.3f} nats/char; held-out names passing "
            f"{plausibility['heldout_passed'][style]:.1%} of {plausibility['heldout_names'][style]}"
            f"{tail_note}"
        )
    for style in sorted(bundle.meta.special_tokens.styles):
        print_chars(bundle, corpus, style, plausibility["char_min_names"].get(style))
    write_plausibility(args.model, plausibility)
    print(f"wrote name_plausibility into {args.model} ({bundle.precision})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
