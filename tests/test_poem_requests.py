"""/poem requests over the tiny poems model: the line limit (the first line counts), the
token budget, first-line cleaning and notes, the result's figures, and the stanza
formatter's streaming rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.engine import Engine
from bot.generators import collect
from bot.generators.base import GenerationResult
from bot.generators.common import sampling_params
from bot.generators.poem import KIND, TOKENS_PER_LINE, PoemFormatter, poem


@pytest.fixture
async def engine(tiny_models_dir: Path):
    engine = Engine.load(tiny_models_dir)
    yield engine
    await engine.aclose()


async def write(engine: Engine, **options: object) -> GenerationResult:
    return await collect(poem(engine, model="poems", **{"seed": 0, **options}))


def formatted(text: str) -> tuple[str, int]:
    formatter = PoemFormatter()
    return "".join(formatter.feed(ch) for ch in text), formatter.total_lines()


@pytest.mark.parametrize(
    ("raw", "shown", "lines"),
    [
        ("  a\n    b", "  a\n    b", 2),  # indentation kept
        ("a  \nb \t", "a\nb", 2),  # trailing spaces and tabs dropped
        ("a\n\n\n\nb", "a\n\nb", 2),  # a run of blank lines is one stanza break
        ("a\n \n\t\nb", "a\n\nb", 2),  # lines of spaces are blank lines too
        ("\n\n \na\n\n", "a", 1),  # no blank lines at either end
        ("a\tb", "a b", 1),  # a tab inside a line shows as a space
        ("a\nb\n", "a\nb", 2),  # a final line break ends the last line, adds none
        ("", "", 0),
        ("\n\n", "", 0),
    ],
)
def test_the_formatter_streams_tidy_stanzas(raw: str, shown: str, lines: int) -> None:
    assert formatted(raw) == (shown, lines)


async def test_a_first_line_alone_fills_a_one_line_poem_without_the_model(
    engine: Engine,
) -> None:
    result = await write(engine, first_line="love and night", max_lines=1)
    assert result.text == "love and night"
    assert result.tokens == 0
    assert result.extras["lines"] == 1 and result.extras["stanzas"] == 1


async def test_the_poem_stops_at_the_line_limit(engine: Engine) -> None:
    for seed in range(3):
        result = await write(engine, temperature=1.0, seed=seed, max_lines=3)
        assert result.extras["lines"] == len(result.text.split("\n")) == 3
        assert result.tokens < 3 * TOKENS_PER_LINE  # it stopped for the lines, not the budget


async def test_a_line_that_never_ends_stops_at_the_token_budget(engine: Engine) -> None:
    """At temperature 0 the tiny model repeats one word without a line break."""
    for max_lines in (2, 3):
        result = await write(engine, temperature=0, max_lines=max_lines)
        assert result.tokens == max_lines * TOKENS_PER_LINE
        assert result.extras["lines"] == 1


async def test_the_first_line_is_one_line_and_counts(engine: Engine) -> None:
    result = await write(engine, temperature=1.0, first_line="love\nand  night  ", max_lines=2)
    first, *rest = result.text.split("\n")
    assert first == "love and  night"
    assert len(rest) == 1 and result.extras["lines"] == 2


async def test_notes_for_an_empty_first_line_and_unknown_characters(engine: Engine) -> None:
    empty = await write(engine, first_line="   ", max_lines=2)
    assert "The first line was empty, so the poem starts freely." in empty.notes
    odd = await write(engine, first_line="love ☃ night", max_lines=1)
    assert odd.text == "love ☃ night"  # shown as typed; the model reads it without ☃
    assert odd.notes == ["Not in the poems model's vocabulary (left out): ☃"]
    long = await write(engine, first_line="love " * 80, max_lines=1)
    assert len(long.text) == 199 and long.text.endswith("love love")  # the last 200, trimmed
    assert long.notes == ["The prompt was long, so only its last 200 characters were used."]


async def test_the_model_continues_from_a_new_text_and_the_first_line(engine: Engine) -> None:
    """The poem is the model's continuation of end-of-text, start-of-text and the first line
    with its line break (trailing spaces dropped), as the model was trained."""
    scheduler = engine.scheduler("poems")
    tokenizer = scheduler.bundle.tokenizer
    params = sampling_params(scheduler.bundle.meta, 1.0, repeat_limit=KIND.repeat_limit)
    for first_line in ("love night  ", None):
        line = (first_line or "").rstrip()
        prompt = [tokenizer.eos_id, tokenizer.bos_id]
        prompt += [tokenizer.index[ch] for ch in line + "\n"] if line else []
        eos = tokenizer.eos_id
        stream = scheduler.submit(
            prompt, params=params, seed=0, max_tokens=2 * TOKENS_PER_LINE, stop_ids={eos}
        )
        continuation = "".join([tokenizer.token_text(t) async for t in stream if t != eos])
        formatter, shown = PoemFormatter(), ""
        for ch in (line + "\n" if line else "") + continuation:
            shown += formatter.feed(ch)
            if formatter.lines == 2:  # the poem ends with its second line
                break
        result = await write(engine, temperature=1.0, first_line=first_line, max_lines=2)
        assert result.text == shown


async def test_top_k_1_or_a_tiny_top_p_make_the_poem_greedy(engine: Engine) -> None:
    greedy = (await write(engine, temperature=0, max_lines=2)).text
    assert (await write(engine, temperature=1.5, top_k=1, max_lines=2)).text == greedy
    assert (await write(engine, temperature=1.5, top_p=0.01, max_lines=2)).text == greedy
    assert (await write(engine, temperature=1.5, max_lines=2)).text != greedy


async def test_a_poem_the_model_ends_early_still_gets_its_result(engine: Engine) -> None:
    ended = []
    for seed in range(60):
        result = await write(engine, temperature=1.0, seed=seed, max_lines=12)
        if result.tokens < 12 * TOKENS_PER_LINE and result.extras["lines"] < 12:
            ended.append(result)
    assert ended  # the premise: the tiny model ends some poems by itself
    for result in ended:
        assert result.text
        assert result.extras["lines"] == sum(1 for line in result.text.split("\n") if line)


async def test_the_result_describes_the_poem(engine: Engine) -> None:
    result = await write(engine, temperature=0.5, seed=7, max_lines=4)
    assert (result.kind, result.model) == ("poem", "poems")
    assert result.extras["seed"] == 7 and result.extras["temperature"] == 0.5
    assert result.extras["stanzas"] == len(result.text.split("\n\n"))
    assert result.extras["originality"] is not None
    assert result.first_token_s is not None and result.total_s >= result.first_token_s
    assert not result.notes


async def test_without_the_corpus_file_originality_is_unavailable_and_said(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine.models["poems"], "ngram_hashes", None)
    result = await write(engine, temperature=1.0, max_lines=2)
    assert result.extras["originality"] is None
    assert result.notes == ["Originality is unavailable: the model has no corpus 4-gram file."]
