"""No doubled words and no loops, in the one sampling loop (bot/engine/guard.py)."""

from __future__ import annotations

import numpy as np

from bot.engine.decode import Row, generate
from bot.engine.ending import EndRule
from bot.engine.guard import WordGuard
from bot.engine.sampling import SamplingParams
from tests.scripted import ScriptedModel, Vocab, cycle_table
from training.eval_replies import doubled_words, loops

CHARS = Vocab("char", list("abdeghnrst ,.-'\n"))
WORDS = Vocab("word", ["strange", "and", "soon", "you", "the", "sea", ",", "."])


def banned_text(vocab: Vocab, guard: WordGuard) -> set[str]:
    return {vocab.vocab[i] for i in guard.banned()}


def test_a_char_model_may_not_end_a_word_that_doubles_the_last_one() -> None:
    guard = WordGuard(CHARS.lexicon(), CHARS.ids("and the"))
    assert banned_text(CHARS, guard) == set()
    for ch in " the":
        guard.feed(CHARS.index[ch])
    assert banned_text(CHARS, guard) == set(CHARS.vocab) - set("abdeghnrst")  # letters only
    other = WordGuard(CHARS.lexicon(), CHARS.ids("the, the"))  # punctuation between: fine
    assert banned_text(CHARS, other) == set()


def test_a_char_model_may_not_complete_a_word_4gram_a_third_time() -> None:
    """ "and the strange sea" occurred twice: "sea" may not end there a third time."""
    text = "the strange sea and the strange sea and the strange sea and the strange se"
    guard = WordGuard(CHARS.lexicon(), CHARS.ids(text))
    assert banned_text(CHARS, guard) == set()  # "se" is another word
    guard.feed(CHARS.index["a"])
    assert banned_text(CHARS, guard) == set(CHARS.vocab) - set("abdeghnrst")


def test_a_word_model_never_repeats_the_word_before() -> None:
    guard = WordGuard(WORDS.lexicon(), WORDS.ids(["you", "soon"]))
    assert banned_text(WORDS, guard) == {"soon"}
    guard.feed(WORDS.index[","])
    assert banned_text(WORDS, guard) == set()


def greedy_rows(vocab: Vocab, prompt: list[int], guard: bool, count: int = 1) -> list[Row]:
    return [
        Row(
            np.array(prompt),
            SamplingParams(0.0, repeat_limit=3),
            np.random.default_rng(i),
            120,
            lexicon=vocab.lexicon() if guard else None,
        )
        for i in range(count)
    ]


def test_greedy_decoding_does_not_loop_or_stutter_with_the_guard() -> None:
    """A model that wants "strange and strange and ..." at temperature 0 (and a doubled
    "soon soon"): without the guard the reply loops and doubles words; with it, neither."""
    table = cycle_table(WORDS, ["strange", "and"])
    table[WORDS.index["soon"], WORDS.index["soon"]] = 1.0  # soon -> soon
    model = ScriptedModel(table)
    texts = {}
    for guard in (False, True):
        rows = greedy_rows(WORDS, WORDS.ids(["the", "sea"]), guard)
        generate(model, rows)
        texts[guard] = WORDS.text(rows[0].history, " ")
        rows = greedy_rows(WORDS, WORDS.ids(["soon"]), guard)
        generate(model, rows)
        texts[guard, "soon"] = WORDS.text(rows[0].history, " ")
    assert loops(texts[False]) and doubled_words(texts[False, "soon"])[0] > 0
    assert not loops(texts[True]) and doubled_words(texts[True, "soon"])[0] == 0


def test_a_char_model_at_temperature_0_does_not_double_or_loop() -> None:
    table = cycle_table(CHARS, list("and "))  # "and and and ..."
    model = ScriptedModel(table)
    for guard, expect in ((False, True), (True, False)):
        rows = greedy_rows(CHARS, CHARS.ids("the "), guard)
        generate(model, rows)
        text = CHARS.text(rows[0].history)
        assert (doubled_words(text)[0] > 0) is expect, text
        assert loops(text) is expect, text


def test_the_guard_keeps_a_seed_s_text_alone_or_batched() -> None:
    """Rows with the guard and an ending give a seed the same tokens alone as in a batch."""
    rng = np.random.default_rng(0)
    model = ScriptedModel(rng.normal(0, 2, (len(CHARS), len(CHARS))))
    marks = CHARS.marks()

    def rows(seeds: list[int]) -> list[Row]:
        return [
            Row(
                np.array(CHARS.ids("the ")),
                SamplingParams(0.9, repeat_limit=3),
                np.random.default_rng(seed),
                200,
                lexicon=CHARS.lexicon(),
                end_rule=EndRule(marks, 40 + 10 * seed),
            )
            for seed in seeds
        ]

    batch = rows(list(range(6)))
    generate(model, batch)
    for seed in range(6):
        (alone,) = rows([seed])
        generate(model, [alone])
        assert alone.history == batch[seed].history
