"""The four products over tiny trained models: options, prompts, streaming and results."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import numpy as np
import pytest

from bot.engine.engine import Engine
from bot.engine.name_filter import mixes_scripts
from bot.engine.ngrams import ngram_hashes, originality, words_for_ngrams
from bot.generators import GENERATORS, collect, start
from bot.generators.base import Busy, Generation, GenerationResult, InvalidRequest, UnknownModel
from bot.generators.poem import PoemFormatter
from bot.products import BUILTIN, KINDS, Product, model_product

PRODUCTS = {p.command: functools.partial(start, p) for p in BUILTIN}
lovecraft, poem, names, story = (PRODUCTS[c] for c in ("lovecraft", "poem", "name", "story"))


@pytest.fixture
async def engine(tiny_models_dir: Path):
    engine = Engine.load(tiny_models_dir)
    yield engine
    await engine.aclose()


async def run(generation: Generation) -> tuple[list[str], GenerationResult]:
    pieces = [piece async for piece in generation]
    assert generation.result is not None
    return pieces, generation.result


CASES = {
    "lovecraft": {"prompt": "The old house", "length": 80},
    "poem": {"first_line": "love and night", "max_lines": 6},
    "name": {"style": "english", "count": 4},
    "story": {"seed_words": "the fox saw", "length": 20},
}


@pytest.mark.parametrize("product", sorted(CASES))
async def test_streamed_text_equals_result_and_seed_reproduces(
    engine: Engine, product: str
) -> None:
    pieces, result = await run(PRODUCTS[product](engine, seed=11, **CASES[product]))
    assert "".join(pieces) == result.text and result.text
    assert result.extras["seed"] == 11 and result.tokens > 0 and result.total_s > 0
    again = await collect(PRODUCTS[product](engine, seed=11, **CASES[product]))
    assert again.text == result.text
    other = await collect(PRODUCTS[product](engine, seed=12, **CASES[product]))
    assert other.text != result.text
    picked = await collect(PRODUCTS[product](engine, **CASES[product]))
    assert isinstance(picked.extras["seed"], int)


async def test_products_same_text_under_concurrent_load(engine: Engine) -> None:
    alone = await collect(lovecraft(engine, prompt="The moon", length=120, seed=5))
    crowd = [lovecraft(engine, prompt="The moon", length=120, seed=s) for s in range(20)]
    results = await asyncio.gather(*(collect(g) for g in crowd))
    assert results[5].text == alone.text
    assert engine.scheduler("lovecraft").max_batch_seen > 1


def test_every_kind_has_its_generator() -> None:
    assert GENERATORS.keys() == KINDS.keys()


async def test_models_get_the_kind_of_their_product_and_kinds_serve_other_models(
    engine: Engine,
) -> None:
    """What /write picks from the metadata is what each built-in product runs; a kind runs on
    any model of its level (prose on the poems model), and names needs style tokens."""
    for product in BUILTIN:
        meta = engine.models[product.model].meta
        assert model_product(product.model, meta.level, meta.corpus.kind).kind == product.kind
    other = Product("x", model="poems", kind="prose", title="x", description="x")
    result = await collect(start(other, engine, prompt="The sea", length=40, seed=1))
    assert result.model == "poems" and result.text.startswith("The sea")
    with pytest.raises(InvalidRequest, match="not trained on names"):
        start(Product("y", model="lovecraft", kind="names", title="y", description="y"), engine)


# -- lovecraft -------------------------------------------------------------------------------


@pytest.mark.parametrize("prompt", ["", "   \n\t ", "\x00\x07"])
async def test_lovecraft_rejects_empty_prompts(engine: Engine, prompt: str) -> None:
    with pytest.raises(InvalidRequest, match="beginning"):
        lovecraft(engine, prompt=prompt)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"length": 0},
        {"length": 5000},
        {"length": "9"},
        {"temperature": 2.5},
        {"temperature": -1},
        {"seed": -3},
        {"seed": 1.5},
    ],
)
async def test_lovecraft_rejects_bad_options(engine: Engine, kwargs: dict) -> None:
    with pytest.raises(InvalidRequest):
        lovecraft(engine, prompt="The door", **kwargs)


async def test_lovecraft_odd_prompts(engine: Engine) -> None:
    result = await collect(
        lovecraft(engine, prompt="The door 🐙 of\x07 ☃ house", length=30, seed=1)
    )
    assert result.text.startswith("The door 🐙 of ☃ house")
    assert any("🐙" in n and "☃" in n for n in result.notes)
    assert any("Control characters" in n for n in result.notes)
    long = await collect(lovecraft(engine, prompt="the night " * 1000, length=20, seed=1))
    assert any("last 1000 characters" in n for n in long.notes)
    assert long.text.startswith(("the night " * 100)[:1000])
    emoji_only = await collect(lovecraft(engine, prompt="🐙🐙", length=20, seed=1))
    assert emoji_only.text.startswith("🐙🐙") and emoji_only.notes


async def test_lovecraft_greedy_is_deterministic_without_seed(engine: Engine) -> None:
    a = await collect(lovecraft(engine, prompt="The", length=40, temperature=0))
    b = await collect(lovecraft(engine, prompt="The", length=40, temperature=0))
    assert a.text == b.text


# -- poem ------------------------------------------------------------------------------------


def test_poem_formatter_stanzas() -> None:
    formatter = PoemFormatter()
    raw = "\n\n  first line  \nsecond\n\n\n\nthird   \n\n"
    text = "".join(formatter.feed(ch) for ch in raw)
    assert text == "  first line\nsecond\n\nthird"
    assert formatter.total_lines() == 3


def test_originality_on_crafted_example() -> None:
    corpus = ngram_hashes("The sea is dark tonight and the wind is cold")
    # 4-grams of the poem: [the sea is dark] [sea is dark and] [is dark and bright]
    assert originality("The sea, is dark!\nand bright", corpus) == pytest.approx(2 / 3)
    assert originality("the wind is cold", corpus) == 0.0
    assert originality("three words only", corpus) is None
    assert originality("never seen these words", np.zeros(0, np.uint64)) == 1.0


def test_ngram_hash_matches_documented_formula() -> None:
    import hashlib

    expected = int.from_bytes(hashlib.blake2b(b"a b c d", digest_size=8).digest(), "little")
    assert ngram_hashes("A, b. C d!").tolist() == [expected]


async def test_poem_lines_first_line_and_originality(engine: Engine) -> None:
    result = await collect(poem(engine, first_line="Sweet rose of night", max_lines=3, seed=4))
    lines = [line for line in result.text.split("\n") if line.strip()]
    assert lines[0] == "Sweet rose of night" and len(lines) <= 3
    assert "\n\n\n" not in result.text and result.text == result.text.strip()
    score = result.extras["originality"]
    assert score is None or 0.0 <= score <= 1.0
    assert result.extras["stanzas"] == len(result.text.split("\n\n"))
    blank = await collect(poem(engine, first_line="   ", max_lines=2, seed=4))
    assert any("empty" in n for n in blank.notes)
    with pytest.raises(InvalidRequest):
        poem(engine, max_lines=0)


async def test_poem_originality_against_constructed_corpora(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The poem's score against corpora made from its own words: all of its 4-grams, none of
    them, and those of its first half (an exact fraction counted here without hashes)."""
    bundle = engine.models["poems"]
    options = {"first_line": "Sweet rose of night", "max_lines": 6, "seed": 4}
    text = (await collect(poem(engine, **options))).text
    words = words_for_ngrams(text)
    grams = {tuple(words[i : i + 4]) for i in range(len(words) - 3)}
    half = words[: len(words) // 2]
    half_grams = {tuple(half[i : i + 4]) for i in range(len(half) - 3)}
    mixed = 1 - len(grams & half_grams) / len(grams)
    assert 0 < mixed < 1  # the premise: a real mix
    for corpus, expected in [
        (ngram_hashes(text), 0.0),
        (ngram_hashes("purple frogs sing loudly at noon"), 1.0),
        (ngram_hashes(" ".join(half)), mixed),
    ]:
        monkeypatch.setattr(bundle, "ngram_hashes", corpus)
        again = await collect(poem(engine, **options))
        assert again.text == text
        assert again.extras["originality"] == pytest.approx(expected)


# -- names -----------------------------------------------------------------------------------


async def test_names_novel_distinct_and_prefixed(engine: Engine) -> None:
    known = engine.models["names"].training_names
    assert known
    result = await collect(names(engine, style="english", count=5, seed=3, starts_with="b"))
    found = result.extras["names"]
    assert found and len({n.casefold() for n in found}) == len(found)
    assert all(n.startswith("B") and 2 <= len(n) <= 12 for n in found)  # shown capitalized
    assert not {n.casefold() for n in found} & known
    assert result.text == "\n".join(found)


async def test_names_beyond_one_wave_of_candidates(engine: Engine) -> None:
    """More names than one wave of concurrent candidates: every candidate has its own seed."""
    for style in ("english", "jinyong"):
        result = await collect(names(engine, style=style, count=20, seed=5))
        found = result.extras["names"]
        assert len(found) == 20, result.notes
        assert len({n.casefold() for n in found}) == 20
        assert result.extras["tries"] > 8
        fewer = await collect(names(engine, style=style, count=6, seed=5))
        assert found[:6] == fewer.extras["names"]  # candidates are judged in index order


async def test_names_novelty_filter(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = engine.models["names"]
    free = await collect(names(engine, style="english", count=4, allow_known=True, seed=2))
    first = free.extras["names"][0]
    known = bundle.training_names | {first.lower()}  # the list is lower case, names are not
    monkeypatch.setattr(bundle, "training_names", known)
    novel = await collect(names(engine, style="english", count=4, seed=2))
    assert first not in novel.extras["names"]
    expected = [n for n in free.extras["names"] if n.casefold() not in known]
    assert novel.extras["names"][: len(expected)] == expected  # same candidates, minus known
    again = await collect(names(engine, style="english", count=4, allow_known=True, seed=2))
    assert again.extras["names"] == free.extras["names"]


async def test_names_gives_up_and_says_so(engine: Engine) -> None:
    result = await collect(
        names(engine, style="jinyong", count=25, min_length=1, max_length=1, seed=1)
    )
    assert len(result.extras["names"]) < 25
    assert result.extras["tries"] == 500
    assert any(f"Found {len(result.extras['names'])} of 25" in n for n in result.notes)


async def test_names_chinese_style_and_bad_options(engine: Engine) -> None:
    for seed in range(4):  # the tiny model sometimes slips into Latin letters: never shown
        result = await collect(names(engine, style="gulong", count=3, seed=seed))
        assert all("\u4e00" <= ch <= "\u9fff" for n in result.extras["names"] for ch in n)
    assert mixes_scripts("o忌") and mixes_scripts("d过丰")
    assert not mixes_scripts("纳斯尔丁·阿凡提") and not mixes_scripts("mary-jane")
    with pytest.raises(InvalidRequest, match="english, gulong, jinyong"):
        names(engine, style="klingon")
    with pytest.raises(InvalidRequest, match="has no"):
        names(engine, style="english", starts_with="🐙")
    with pytest.raises(InvalidRequest):
        names(engine, count=0)
    with pytest.raises(InvalidRequest):
        names(engine, min_length=5, max_length=3)


# -- story -----------------------------------------------------------------------------------


async def test_story_oov_words_and_detokenized_text(engine: Engine) -> None:
    result = await collect(
        story(engine, seed_words="The fox saw a zebra, said Bob", length=30, seed=2)
    )
    assert any("'zebra'" in n and "'bob'" in n for n in result.notes)
    assert result.text.startswith("The fox saw a zebra, said bob")
    assert " ," not in result.text and " ." not in result.text
    assert 1 <= result.extras["words"] <= 30


@pytest.mark.parametrize("seed_words", ["", "   ", "!!! ...", "🐙"])
async def test_story_needs_a_word(engine: Engine, seed_words: str) -> None:
    with pytest.raises(InvalidRequest, match="seed word"):
        story(engine, seed_words=seed_words)


# -- engine-level errors and cancellation ---------------------------------------------------------


async def test_unknown_model_and_busy(tiny_models_dir: Path) -> None:
    only = Engine.load(tiny_models_dir, only=["lovecraft"], max_batch=1, max_queue=0)
    with pytest.raises(UnknownModel):
        poem(only)
    first = lovecraft(only, prompt="The", length=2000, seed=1)
    await first.__anext__()
    second = lovecraft(only, prompt="The", length=10, seed=1)
    with pytest.raises(Busy):
        await second.__anext__()
    await first.aclose()
    assert only.scheduler("lovecraft").load == 0
    assert (await collect(lovecraft(only, prompt="The", length=10, seed=1))).text
    await only.aclose()
