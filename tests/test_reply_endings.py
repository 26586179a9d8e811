"""/lovecraft and /story replies keep their length and end at a sentence end or a marked
word, over the tiny trained models (the product path: generator, scheduler, ending rule)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from bot.engine.engine import Engine
from bot.generators import collect, start
from bot.generators.common import CUT_MARK, primer_text
from bot.products import BUILTIN

PRODUCTS = {p.command: functools.partial(start, p) for p in BUILTIN}
ENDED = re.compile(r"[.!?][\"')\]]*$")


@pytest.fixture
async def engine(tiny_models_dir: Path):
    engine = Engine.load(tiny_models_dir)
    yield engine
    await engine.aclose()


async def test_prose_keeps_its_length_and_ends_at_a_sentence_or_a_marked_word(
    engine: Engine,
) -> None:
    for seed in range(6):
        generation = PRODUCTS["lovecraft"](engine, prompt="The old house", length=60, seed=seed)
        pieces = [piece async for piece in generation]
        result = generation.result
        assert result is not None and "".join(pieces) == result.text
        written = result.extras["continuation"]
        assert result.tokens <= 60 and len(written.removesuffix(CUT_MARK)) == result.tokens
        assert ENDED.search(written) or (written.endswith(CUT_MARK) and written[-2].isalnum())


async def test_story_keeps_its_length_in_words(engine: Engine) -> None:
    for seed in range(6):
        result = await collect(
            PRODUCTS["story"](engine, seed_words="the fox", length=12, seed=seed)
        )
        assert result.extras["words"] <= 12
        assert ENDED.search(result.text) or result.text.endswith(CUT_MARK)


def test_continue_primes_with_the_written_text_only() -> None:
    assert primer_text("The door opened…") == "The door opened"
    assert primer_text("It ended.") == "It ended."
