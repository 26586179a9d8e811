"""/name requests over the tiny names model: the search's budget and accounting, length and
prefix limits, refusals, notes, and sharing a busy engine. At temperature 0 every candidate
is the same (greedy) name, which makes the search's counts exact."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.engine.engine import Engine
from bot.engine.name_filter import mixes_scripts
from bot.engine.sampling import SamplingParams
from bot.generators import collect
from bot.generators.base import Busy, GenerationResult, InvalidRequest
from bot.generators.names import names

GIVE_UP = r"try other options or a higher temperature\.$"


@pytest.fixture
async def engine(tiny_models_dir: Path):
    engine = Engine.load(tiny_models_dir)
    yield engine
    await engine.aclose()


async def greedy(engine: Engine, **options: object) -> GenerationResult:
    return await collect(names(engine, model="names", temperature=0, seed=0, **options))


async def test_repeated_names_use_up_the_tries_and_the_reply_says_so(engine: Engine) -> None:
    """Each greedy candidate repeats the first: one name, then 50 tries (at least 50, 20
    per name asked for), each costing the name's characters plus its end token."""
    result = await greedy(engine, count=2, allow_known=True)
    [name] = result.extras["names"]
    assert result.text == name
    assert result.extras["tries"] == 50
    assert result.tokens == 50 * (len(name) + 1)
    assert result.notes == [
        "Found 1 of 2 english names in 50 tries; try other options or a higher temperature."
    ]
    assert (await greedy(engine, count=5, allow_known=True)).extras["tries"] == 100
    novel_only = await greedy(engine, count=2)
    assert (
        novel_only.notes[-1].startswith("Found ")
        and " of 2 new english names in 50 " in (novel_only.notes[-1])
    )


async def test_the_result_describes_the_request(engine: Engine) -> None:
    result = await greedy(engine, count=1, allow_known=True, style="jinyong")
    assert (result.kind, result.model) == ("names", "names")
    assert result.extras["style"] == "jinyong"
    assert result.extras["temperature"] == 0
    assert result.extras["seed"] == 0
    assert result.extras["tries"] == 1 and not result.notes  # found at the first try
    assert result.first_token_s is not None and result.total_s >= result.first_token_s


async def test_the_default_style_is_the_first_in_alphabetical_order(engine: Engine) -> None:
    assert (await greedy(engine, count=1, allow_known=True)).extras["style"] == "english"


async def test_names_exactly_at_the_length_limits_are_kept(engine: Engine) -> None:
    [name] = (await greedy(engine, count=1, allow_known=True)).extras["names"]
    exact = await greedy(
        engine, count=1, allow_known=True, min_length=len(name), max_length=len(name)
    )
    assert exact.extras["names"] == [name]
    prefixed = await greedy(
        engine, count=1, allow_known=True, starts_with=name[:2], max_length=len(name)
    )
    assert prefixed.extras["names"] == [name]
    assert prefixed.tokens == len(name) - 2 + 1  # the prefix is given, not sampled


async def test_candidates_that_run_out_of_room_are_counted_and_dropped(engine: Engine) -> None:
    """One letter short of the greedy name: every candidate stops at max_length + 1 tokens
    (the characters allowed plus room for the end token) without ending."""
    [name] = (await greedy(engine, count=1, allow_known=True)).extras["names"]
    short = len(name) - 1
    result = await greedy(engine, count=2, allow_known=True, min_length=1, max_length=short)
    assert result.extras["names"] == []
    assert result.extras["tries"] == 50
    assert result.tokens == 50 * (short + 1)
    assert result.notes[-1].startswith("Found 0 of 2 english names in 50 tries")
    prefixed = await greedy(
        engine, count=2, allow_known=True, starts_with=name[:2], max_length=len(name) - 1
    )
    assert prefixed.extras["names"] == []
    assert prefixed.tokens == 50 * (len(name) - 1 - 2 + 1)  # room after the given prefix


async def test_a_prefix_as_long_as_the_maximum_is_allowed_and_a_longer_one_refused(
    engine: Engine,
) -> None:
    result = await greedy(engine, count=1, allow_known=True, starts_with="Na", max_length=2)
    assert all(n == "Na" for n in result.extras["names"])
    with pytest.raises(InvalidRequest, match=r"^The starting letters are longer than the max"):
        names(engine, model="names", starts_with="Nar", max_length=2)


async def test_spaces_in_the_prefix_are_ignored(
    engine: Engine,
) -> None:
    result = await greedy(engine, count=1, allow_known=True, starts_with=" N a ")
    [name] = result.extras["names"]
    assert name.casefold().startswith("na")


async def test_bad_requests_are_refused_with_the_reason(engine: Engine) -> None:
    for lengths in ({"max_length": 41}, {"max_length": 0}, {"min_length": 0}):
        with pytest.raises(
            InvalidRequest, match=r"^(Min|Max) must be a whole number from 1 to 40\.$"
        ):
            names(engine, model="names", **lengths)
    with pytest.raises(InvalidRequest, match=r"^The shortest name length is above the longest\.$"):
        names(engine, model="names", min_length=5, max_length=4)
    with pytest.raises(InvalidRequest, match=r"^The lovecraft model was not trained on names"):
        names(engine, model="lovecraft")
    with pytest.raises(InvalidRequest, match=r"choose one of: english, gulong, jinyong\.$"):
        names(engine, model="names", style="elvish")


async def test_a_missing_training_list_is_noted_unless_known_names_are_allowed(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine.models["names"], "training_names", None)
    note = "The training name list is missing, so novelty could not be checked."
    assert note in (await greedy(engine, count=1)).notes
    assert note not in (await greedy(engine, count=1, allow_known=True)).notes


async def test_a_small_engine_serves_a_wave_with_fewer_candidates(tiny_models_dir: Path) -> None:
    """Room for two requests at once: each wave of 8 candidates shrinks to 2, and the names
    are those of the same seed on an engine with room to spare."""
    small = Engine.load(tiny_models_dir, only=["names"], max_batch=1, max_queue=1)
    roomy = Engine.load(tiny_models_dir, only=["names"])
    try:
        options = {"model": "names", "count": 3, "seed": 21, "temperature": 1.0}
        got = await collect(names(small, **options))
        assert got.extras["names"] == (await collect(names(roomy, **options))).extras["names"]
        assert len(got.extras["names"]) == 3
    finally:
        await small.aclose()
        await roomy.aclose()


async def test_a_full_engine_turns_the_request_away(tiny_models_dir: Path) -> None:
    full = Engine.load(tiny_models_dir, only=["names"], max_batch=1, max_queue=0)
    try:
        scheduler = full.scheduler("names")
        hog = scheduler.submit([0], params=SamplingParams(1.0), seed=0, max_tokens=10_000)
        with pytest.raises(Busy):
            await collect(names(full, model="names", count=2, seed=1))
        await hog.aclose()
        await asyncio.sleep(0)
        assert (await collect(names(full, model="names", count=1, seed=1))).extras["names"]
    finally:
        await full.aclose()


@pytest.mark.parametrize("han", ["\u3400", "\u4e00", "\u9fff", "\uf900", "\ufad9"])
def test_han_characters_at_either_end_of_the_cjk_blocks_count_as_han(han: str) -> None:
    assert mixes_scripts("o" + han)
    assert not mixes_scripts("\u4e00" + han)


async def test_top_k_1_or_a_tiny_top_p_make_the_names_greedy(engine: Engine) -> None:
    greedy_names = (await greedy(engine, count=1, allow_known=True)).extras["names"]
    hot = {"model": "names", "count": 1, "allow_known": True, "seed": 0, "temperature": 1.5}
    assert (await collect(names(engine, top_k=1, **hot))).extras["names"] == greedy_names
    assert (await collect(names(engine, top_p=0.01, **hot))).extras["names"] == greedy_names
