"""Markdown pieces of the model card: numbers, shares, durations, tables, code blocks."""

from __future__ import annotations

import math
from collections.abc import Sequence

CARD_FIGURES = "card"  # the folder beside the card that its pictures are copied into
NOT_APPLICABLE = "–"  # a column that does not apply to the row (n/a: could not be measured)


def num(value: float | None, digits: int = 3) -> str:
    """A number with thousands separators, or n/a when it could not be measured."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def pct(value: float | None, digits: int = 1) -> str:
    """A share as a percentage, or n/a."""
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def duration(seconds: float) -> str:
    """Minutes, or hours from 90 minutes on."""
    minutes = seconds / 60
    return f"{minutes / 60:.1f} h" if minutes >= 90 else f"{minutes:.1f} min"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A markdown table (pipes inside cells escaped), then a blank line."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return [*lines, ""]


def fenced(text: str) -> list[str]:
    """Generated text in a code block that it cannot close early."""
    return ["```text", text.replace("```", "'''").rstrip(), "```", ""]
