"""Names users would believe: shown capitalized, and never opening as no known name opens."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from bot.engine.engine import Engine
from bot.generators import collect, start
from bot.generators.names import known_openings, opening, shown_case
from bot.products import BUILTIN, by_command
from training import metrics

names = functools.partial(start, by_command(BUILTIN)["name"])


@pytest.fixture
async def engine(tiny_models_dir: Path):
    engine = Engine.load(tiny_models_dir)
    yield engine
    await engine.aclose()


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("mary", "Mary"),
        ("mary ann", "Mary Ann"),
        ("anne-marie", "Anne-Marie"),
        ("o'brien", "O'Brien"),
        ("o'brien-smith", "O'Brien-Smith"),
        ("ja'nae", "Ja'nae"),  # only a one-letter word before an apostrophe is a prefix
        ("McDonald", "McDonald"),  # the model's own capitals are kept
        ("张无忌", "张无忌"),
        ("纳斯尔丁·阿凡提", "纳斯尔丁·阿凡提"),
    ],
)
def test_shown_case(written: str, shown: str) -> None:
    assert shown_case(written) == shown


def test_openings() -> None:
    assert opening("Sshley") == "ss" and opening("张无忌") == "张" and opening("a") == "a"
    known = frozenset({"ashley", "sharon", "张无忌", "x"})
    assert known_openings(known) == {"as", "sh", "张"}  # one-letter names open nothing


async def test_english_names_shown_capitalized(engine: Engine) -> None:
    """(The novelty filter's case-blindness: test_generators.test_names_novelty_filter.)"""
    result = await collect(names(engine, style="english", count=6, seed=4, allow_known=True))
    found = result.extras["names"]
    assert len(found) == 6
    assert all(n[0].isupper() and n[1:].islower() for n in found), found
    assert result.text == "\n".join(found)


async def test_wuxia_names_untouched(engine: Engine) -> None:
    result = await collect(names(engine, style="jinyong", count=5, seed=4))
    assert all("\u4e00" <= ch <= "\u9fff" for n in result.extras["names"] for ch in n)
    tokenizer = engine.models["names"].tokenizer
    assert all(all(ch in tokenizer.index for ch in n) for n in result.extras["names"])


@pytest.mark.parametrize("style", ["english", "jinyong"])
async def test_no_name_opens_as_no_known_name_does(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, style: str
) -> None:
    """Known names that no longer open with one candidate's opening: that candidate and any
    other opening the same way are dropped, the others come in the same order."""
    bundle = engine.models["names"]
    free = (await collect(names(engine, style=style, count=8, seed=6))).extras["names"]
    banned = opening(free[0])
    known = frozenset(n for n in bundle.training_names if opening(n) != banned)
    monkeypatch.setattr(bundle, "training_names", known)
    result = await collect(names(engine, style=style, count=8, seed=6))
    assert all(opening(n) in known_openings(known) for n in result.extras["names"])
    expected = [n for n in free if opening(n) != banned]
    assert result.extras["names"][: len(expected)] == expected
    asked = await collect(names(engine, style=style, count=2, seed=6, starts_with=banned))
    assert asked.extras["names"] and all(opening(n) == banned for n in asked.extras["names"])


def test_the_card_judges_openings_as_name_does() -> None:
    """The evaluator's figures of the names shown drop what /name drops (training cannot
    import the generators, so the rule is written on both sides)."""
    known = ["ashley", "sharon", "张无忌", "x"]
    batch = ["Sshley", "Ashlyn", "y", "赵敏", "张三", "SHANE", "xy"]
    kept = [n for n in batch if len(n) < 2 or opening(n) in known_openings(frozenset(known))]
    assert kept == ["Ashlyn", "y", "张三", "SHANE"]
    assert metrics.plausible_names(batch, known) == kept
