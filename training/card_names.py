"""The model card's plausibility part of a names model: the thresholds, the held-out names they
pass, the raw candidates they drop per temperature, and examples of dropped names."""

from __future__ import annotations

from typing import Any


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def plausibility_lines(report: dict[str, Any]) -> list[str]:
    """Markdown for the report's ``plausibility`` figures (nothing for an older report)."""
    figures = report.get("plausibility")
    if not figures:
        return []
    lines = ["### Plausibility filter", ""]
    if all(row["threshold"] is None for row in figures.values()):
        return [
            *lines,
            "No thresholds in the metadata: /name shows names however unlikely the model finds "
            "them (`python -m training.calibrate_names NAME.json` sets them).",
            "",
        ]
    precision = next(row["calibrated_on"] for row in figures.values() if row["threshold"])
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
    temperatures = sorted({row["temperature"] for row in report["temperatures"]})
    header = ["style", "threshold (nats/char)", "held-out names passing", "tail passing"]
    header += [f"dropped at T={t:g}" for t in temperatures]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for style, row in figures.items():
        dropped = {
            r["temperature"]: r.get("unlikely_share")
            for r in report["temperatures"]
            if r["style"] == style
        }
        threshold = "off" if row["threshold"] is None else f"{row['threshold']:.3f}"
        cells = [style, threshold]
        cells.append(f"{_pct(row['heldout_passed'])} of {row['heldout_names']}")
        cells.append(f"{_pct(row['tail_passed'])} of {row['tail_names']}")
        cells += [_pct(dropped.get(t)) for t in temperatures]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    examples = report.get("unlikely_examples", {})
    shown = [
        f"- T={t}, {style}: " + ", ".join(names)
        for t, by_style in examples.items()
        for style, names in by_style.items()
        if names
    ]
    if not shown:
        return [*lines, "No sampled name was dropped in these batches.", ""]
    return [*lines, "Dropped names, as sampled (the first of each batch):", "", *shown, ""]
