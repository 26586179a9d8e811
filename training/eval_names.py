"""The evaluation of a names model: per style and temperature, a seeded batch of names judged
as /name judges them (``bot.engine.name_filter``), and the plausibility filter's two figures
for each of its checks (score, and characters in the Han styles): the share of held-out names
it passes and the share of raw candidates it drops."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np

from bot.engine.bundle import ModelBundle
from bot.engine.name_score import name_scores
from training import metrics
from training.calibrate_names import chars_passed, spelled, style_scores, train_char_usage
from training.data import Corpus
from training.eval_plots import plot_name_lengths
from training.eval_stats import make_rngs, params_at, sample_batch, shown_filter
from training.report import CharFigures, NameCounts, NameResults, NameRow, StylePlausibility

if TYPE_CHECKING:
    from training.evaluate import Options

NAMES_BATCH = 100  # names per style and temperature, at least (the duplicate target's batch)
NAME_EXAMPLES = 12


def plausibility_figures(bundle: ModelBundle, corpus: Corpus) -> dict[str, StylePlausibility]:
    """Per style: the threshold the bot reads from the metadata (None: the filter is off), the
    precision of the file it was set on, and the share of held-out names passing it on this
    bundle's file, on the random held-out documents the threshold was
    set from and on the contiguous tail (None where there is none)."""
    plausibility = bundle.meta.name_plausibility
    out = {}
    for style in sorted(bundle.meta.special_tokens.styles):
        threshold = plausibility.thresholds.get(style) if plausibility else None
        names, passed = {}, {}
        for key, docs in (("heldout", corpus.validation), ("tail", corpus.tail)):
            scores = style_scores(bundle, docs, style) if threshold is not None else np.zeros(0)
            names[key] = int(scores.size)
            passed[key] = (
                float(np.mean(scores >= threshold))
                if threshold is not None and scores.size
                else None
            )
        out[style] = StylePlausibility(
            threshold=threshold,
            calibrated_on=plausibility.precision if plausibility else None,
            heldout_names=names["heldout"],
            heldout_passed=passed["heldout"],
            tail_names=names["tail"],
            tail_passed=passed["tail"],
            chars=char_figures(bundle, corpus, style, threshold),
        )
    return out


def char_figures(
    bundle: ModelBundle, corpus: Corpus, style: str, threshold: float | None
) -> CharFigures | None:
    """The character check's held-out figures for a Han style, counting the training names
    only: alone and with the score (None where there are no names). ``chars_min_names`` is the
    served ``K``; for a style not judged the alone figures are of the loosest check, K = 1."""
    plausibility = bundle.meta.name_plausibility
    served = plausibility.char_min_names.get(style) if plausibility else None
    usage = train_char_usage(corpus.train, style, served or 1)
    if usage is None:
        return None
    chars: dict[str, float | None] = {}
    both: dict[str, float | None] = {}
    for key, docs in (("heldout", corpus.validation), ("tail", corpus.tail)):
        names = [name for name, _ in spelled(bundle, docs, style)]
        chars[key] = chars_passed(usage, names) if names else None
        both[key] = None
        if served is not None and threshold is not None and names:
            scores = style_scores(bundle, docs, style)
            both[key] = float(
                np.mean(
                    [
                        s >= threshold and usage.rare(n.casefold()) is None
                        for n, s in zip(names, scores, strict=True)
                    ]
                )
            )
    return CharFigures(
        chars_min_names=served,
        chars_heldout_passed=chars["heldout"],
        both_heldout_passed=both["heldout"],
        chars_tail_passed=chars["tail"],
        both_tail_passed=both["tail"],
    )


def evaluate_names(
    bundle: ModelBundle, corpus: Corpus, options: Options
) -> tuple[NameResults, str | None]:
    """Per style and temperature: novelty, duplicates and lengths of a batch of names, what
    the bot's filter shows of it, implausible openings, reinvented held-out names, and the
    candidates the plausibility threshold drops (with examples). Returns them with the
    name-lengths picture."""
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
    dropped_examples: dict[str, dict[str, list[str]]] = {}
    rare_examples: dict[str, dict[str, list[str]]] = {}
    for temperature in options.temperatures:
        for style in styles:
            start = [tokenizer.eos_id, tokenizer.style_id(style)]
            ids, ended = sample_batch(
                bundle,
                [start] * count,
                params_at(bundle, temperature),
                make_rngs(options.seed, temperature, count, salt=zlib.crc32(style.encode())),
                bundle.meta.sampling.max_tokens,
                desc=f"{bundle.name} {style} T={temperature:g}",
                progress=options.progress,
            )
            names = [tokenizer.decode(s).strip() for s in ids]
            nonempty = [n for n in names if n]
            lengths = [len(n) for n in nonempty]
            done = [i for i, end in enumerate(ended) if end]
            finished = [names[i] for i in done]
            scores = name_scores(bundle, start, [ids[i] for i in done], tokenizer.eos_id)
            name_filter = shown_filter(bundle, style)
            shown = name_filter.shown(finished, scores.tolist())  # what /name lets through
            unlikely = [n for n, s in zip(finished, scores, strict=True) if name_filter.unlikely(s)]
            rare = [n for n in finished if name_filter.rare_char(n) is not None]
            bins = max(max_len, max(lengths, default=1))
            rows.append(
                NameRow(
                    temperature=temperature,
                    style=style,
                    samples=count,
                    empty_share=1 - len(nonempty) / count,
                    unfinished_share=1 - sum(ended) / count,
                    novelty=metrics.novelty_rate(nonempty, known),
                    duplicates=metrics.duplicate_rate(nonempty),
                    shown=len(shown),
                    shown_novelty=metrics.novelty_rate(shown, known),
                    shown_duplicates=metrics.duplicate_rate([n.casefold() for n in shown]),
                    implausible_openings=metrics.implausible_opening_share(
                        nonempty, train_names[style]
                    ),
                    shown_implausible_openings=metrics.implausible_opening_share(
                        shown, train_names[style]
                    ),
                    unlikely_share=len(unlikely) / len(finished) if finished else None,
                    rare_char_share=len(rare) / len(finished)
                    if finished and name_filter.chars
                    else None,
                    heldout_reinvented=metrics.reinvented_share(
                        nonempty, heldout_names[style], train_names[style]
                    ),
                    mean_length=metrics.mean(lengths),
                    train_mean_length=metrics.mean(train_lengths[style]),
                    length_tv=metrics.total_variation(
                        np.bincount(lengths, minlength=bins + 1),
                        np.bincount(train_lengths[style], minlength=bins + 1),
                    )
                    if lengths
                    else None,
                    length_counts=np.bincount(lengths, minlength=bins + 1).tolist(),
                )
            )
            examples.setdefault(f"{temperature:g}", {})[style] = nonempty[:NAME_EXAMPLES]
            dropped_examples.setdefault(f"{temperature:g}", {})[style] = unlikely[:NAME_EXAMPLES]
            rare_examples.setdefault(f"{temperature:g}", {})[style] = rare[:NAME_EXAMPLES]
    results = NameResults(
        temperatures=rows,
        examples=examples,
        unlikely_examples=dropped_examples,
        rare_char_examples=rare_examples,
        plausibility=plausibility_figures(bundle, corpus),
        reference=NameCounts(
            length_counts={
                s: np.bincount(v, minlength=max_len + 1).tolist() for s, v in train_lengths.items()
            }
        ),
    )
    return results, plot_name_lengths(bundle.name, train_lengths, rows, options.out)
