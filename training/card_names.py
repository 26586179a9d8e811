"""The model card's plausibility part of a names model: the thresholds, the held-out names they
pass, the raw candidates they drop per temperature, and examples of dropped names; then the
same for the character check of the Han styles."""

from __future__ import annotations

from training.card_format import pct, table
from training.report import NameResults, StyleExamples


def plausibility_lines(names: NameResults) -> list[str]:
    """Markdown for the report's ``plausibility`` figures (nothing for an older report)."""
    figures = names.plausibility
    if not figures:
        return []
    lines = ["### Plausibility filter", ""]
    if all(row.threshold is None for row in figures.values()):
        return [
            *lines,
            "No thresholds in the metadata: /name shows names however unlikely the model finds "
            "them (`python -m training.calibrate_names NAME.json` sets them).",
            "",
        ]
    precision = next(row.calibrated_on for row in figures.values() if row.threshold)
    lines.append(
        "/name drops a candidate whose mean log-likelihood per character (the end of the name "
        "counted as one, at temperature 1) is under its style's threshold, set by "
        f"`python -m training.calibrate_names` on the {precision} file so that 95% of the "
        "random held-out names of the style pass (names with a character outside the "
        "vocabulary, which the model cannot write, are left out); measured here on the file "
        "the samples come from. The tail is a second held-out list that did not set it. "
        "Dropped: the share of the finished raw candidates under the threshold."
    )
    lines.append("")
    header = ["style", "threshold (nats/char)", "held-out names passing", "tail passing"]
    header += _dropped_header(names)
    rows = []
    for style, row in figures.items():
        threshold = "off" if row.threshold is None else f"{row.threshold:.3f}"
        cells = [style, threshold]
        cells.append(f"{pct(row.heldout_passed)} of {row.heldout_names}")
        cells.append(f"{pct(row.tail_passed)} of {row.tail_names}")
        cells += _dropped_cells(names, style, "unlikely_share")
        rows.append(cells)
    lines += table(header, rows)
    shown = _examples(names.unlikely_examples)
    if not shown:
        lines += ["No sampled name was dropped in these batches.", ""]
    else:
        lines += ["Dropped names, as sampled (the first of each batch):", "", *shown, ""]
    return lines + char_lines(names)


def _temperatures(names: NameResults) -> list[float]:
    return sorted({row.temperature for row in names.temperatures})


def _dropped_header(names: NameResults) -> list[str]:
    return [f"dropped at T={t:g}" for t in _temperatures(names)]


def _dropped_cells(names: NameResults, style: str, share: str) -> list[str]:
    """The ``share`` of ``style``'s raw candidates dropped, per temperature of the report."""
    dropped = {r.temperature: getattr(r, share) for r in names.temperatures if r.style == style}
    return [pct(dropped.get(t)) for t in _temperatures(names)]


def _examples(by_temperature: StyleExamples) -> list[str]:
    return [
        f"- T={t}, {style}: " + ", ".join(names)
        for t, by_style in by_temperature.items()
        for style, names in by_style.items()
        if names
    ]


def char_lines(names: NameResults) -> list[str]:
    """Markdown for the character check's figures (nothing for a report without them)."""
    figures = {s: r.chars for s, r in names.plausibility.items() if r.chars is not None}
    if not figures:
        return []
    lines = [
        "#### Characters (Han styles)",
        "",
        "/name also drops a Han name using, after its first character, a character that fewer "
        "than K names of its style use and fewer than 2K names of the Han styles together. "
        "K is the largest whose check passes 95% of the random held-out names of the style, "
        "counting the training names' characters only (the bot counts every exported name); "
        "a style where even K = 1 passes fewer is not judged (its figures below are those of "
        "K = 1). Both: held-out names passing the score and the characters. Dropped: the share "
        "of the finished raw candidates (100 per style and temperature) it drops.",
        "",
    ]
    header = ["style", "K", "held-out passing", "tail passing", "both: held-out", "both: tail"]
    header += _dropped_header(names)
    rows = []
    for style, row in figures.items():
        k = row.chars_min_names
        cells = [style, "off" if k is None else str(k)]
        cells += [pct(row.chars_heldout_passed), pct(row.chars_tail_passed)]
        cells += [pct(row.both_heldout_passed), pct(row.both_tail_passed)]
        cells += _dropped_cells(names, style, "rare_char_share")
        rows.append(cells)
    lines += table(header, rows)
    shown = _examples(names.rare_char_examples)
    if not shown:
        return [*lines, "No sampled name was dropped for its characters in these batches.", ""]
    return [*lines, "Dropped for their characters, as sampled:", "", *shown, ""]
