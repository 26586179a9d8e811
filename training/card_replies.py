"""The model card's section on replies as users get them (``training.eval_replies``)."""

from __future__ import annotations

from bot.engine.kinds import Level
from training.card_format import pct, table
from training.eval_replies import LOOP_REPEATS
from training.report import Replies


def reply_lines(level: Level, replies: Replies | None) -> list[str]:
    """How replies end, doubled words and loops per temperature (text models only)."""
    if not replies:
        return []
    sentences = replies.length is not None
    lines = ["### Replies: sentence ends, doubled words, loops", ""]
    if sentences:
        unit = "words" if level == Level.WORD else "characters"
        lines.append(
            f"{replies.count} seeded replies per temperature, made as the bot makes them at "
            f"its default options: a held-out opening continued by at most {replies.length} "
            f"{unit} (the default length), steered to a sentence end from three quarters of "
            "it and cut back to the last sentence (or, failing that, a whole word marked …) at "
            "the length, with the word guard of the sampling loop (no doubled word, no word "
            "4-gram a third time). Only the written text is scored."
        )
    else:
        lines.append(
            f"{replies.count} seeded poems per temperature of the default number of lines, "
            "sampled as the bot samples (with the word guard: no doubled word, no word 4-gram "
            "a third time)."
        )
    lines.append(
        "Doubled words: words equal to the word just before them (only a space between); "
        f"looping: replies in which some word 4-gram occurs {LOOP_REPEATS} times or more. "
        f"The model's default temperature is {replies.default_temperature:g}."
    )
    lines.append("")
    header = ["temperature", "replies"]
    header += ["ending at a sentence end"] if sentences else []
    header += ["doubled words", "looping replies", "words per reply"]
    rows = []
    for row in replies.rows:
        cells = [f"{row.temperature:g}", str(row.replies)]
        cells += [pct(row.sentence_end_share)] if sentences else []
        cells += [
            pct(row.doubled_word_share, 2),
            pct(row.looping_share),
            f"{row.mean_words:.1f}",
        ]
        rows.append(cells)
    lines += table(header, rows)
    human = replies.heldout_doubled_word_share
    lines += [f"Held-out human text doubles {pct(human, 2)} of its words.", ""]
    if replies.examples:
        lines += [f"Two replies at T={replies.default_temperature:g}:", ""]
        for text in replies.examples:
            lines += ["```text", text.replace("```", "'''"), "```", ""]
    return lines
