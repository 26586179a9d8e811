"""The reply measures of the evaluator and their card section, on texts chosen here."""

from __future__ import annotations

from training.card_replies import reply_lines
from training.eval_replies import doubled_words, ends_sentence, loops, reply_targets
from training.report import Replies, ReplyRow


def test_the_measures_read_text_as_a_reader_does() -> None:
    assert ends_sentence("He went home.") and ends_sentence('"Run!" ') and ends_sentence("Why?)")
    assert not ends_sentence("which he had r…") and not ends_sentence("the end")
    assert doubled_words("soon soon you, you said the the end") == (2, 8)
    assert doubled_words("No, no. Had had.") == (1, 4)  # punctuation between: not doubled
    assert loops("strange and strange and strange and strange and")  # a 4-gram three times
    assert not loops("strange and strange and strange and strange")  # each 4-gram twice
    assert loops("a b c d. A b c d, a b c d")


def replies(sentence_end: float, doubled: float, looping: float) -> Replies:
    rows = [
        ReplyRow(
            temperature=t,
            replies=200,
            sentence_end_share=sentence_end,
            doubled_word_share=doubled,
            looping_share=looping,
            mean_words=60.0,
        )
        for t in (0.0, 0.7)
    ]
    return Replies(
        count=200,
        default_temperature=0.7,
        length=400,
        rows=rows,
        examples=["It ended."],
        heldout_doubled_word_share=0.0005,
    )


def test_targets_per_temperature_and_sentence_ends_at_the_default() -> None:
    targets = reply_targets(replies(0.985, 0.0, 0.0))
    names = [t.target for t in targets]
    assert names == [
        "doubled words at T=0",
        "looping replies at T=0",
        "replies ending at a sentence end at T=0.7 (default)",
        "doubled words at T=0.7",
        "looping replies at T=0.7",
    ]
    assert all(t.met for t in targets)
    missed = reply_targets(replies(0.97, 0.002, 0.02))
    assert not any(t.met for t in missed)


def test_the_card_section_shows_every_temperature() -> None:
    text = "\n".join(reply_lines("char", replies(0.985, 0.0004, 0.005)))
    assert "at most 400 characters" in text
    assert "| 0 | 200 | 98.5% | 0.04% | 0.5% | 60.0 |" in text
    assert "| 0.7 | 200 | 98.5% |" in text and "doubles 0.05% of its words" in text
    assert reply_lines("char", None) == []
