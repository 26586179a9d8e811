"""Names users would believe: shown capitalized, and never opening as no known name of the
style opens (bot.engine.name_filter, which the evaluator's "shown" figures apply too)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from bot.engine.engine import Engine
from bot.engine.name_filter import NameFilter, opening, openings_of
from bot.generators import collect, start
from bot.generators.names import shown_case
from bot.products import BUILTIN, by_command
from training.eval_stats import shown_filter

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
    assert openings_of(known) == {"as", "sh", "张"}  # one-letter names open nothing
    # the ends of the Han blocks: the last ideograph judged alone, whatever follows it
    assert opening("\u9fffx") == "\u9fff" and opening("\ufaffy") == "\ufaff"
    assert opening("\u33ffz") == "\u33ffz" and opening("\ufb50w") == "\ufb50w"


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
    """Known names of the style that no longer open with one candidate's opening: that
    candidate and any other opening the same way are dropped, the others come in the same
    order; asking for those letters brings them back."""
    bundle = engine.models["names"]
    free = (await collect(names(engine, style=style, count=8, seed=6))).extras["names"]
    banned = opening(free[0])
    by_style = dict(bundle.names_by_style)
    by_style[style] = frozenset(n for n in by_style[style] if opening(n) != banned)
    monkeypatch.setattr(bundle, "names_by_style", by_style)
    result = await collect(names(engine, style=style, count=8, seed=6))
    assert all(opening(n) in openings_of(by_style[style]) for n in result.extras["names"])
    expected = [n for n in free if opening(n) != banned]
    assert result.extras["names"][: len(expected)] == expected
    asked = await collect(names(engine, style=style, count=2, seed=6, starts_with=banned))
    assert asked.extras["names"] and all(opening(n) == banned for n in asked.extras["names"])


async def test_an_opening_only_another_style_has_is_dropped_for_this_style_only(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A surname only Jin Yong names open with: dropped from Gu Long names, kept in Jin
    Yong names, though the mixed list (every style's names) still opens with it."""
    bundle = engine.models["names"]
    gulong = (await collect(names(engine, style="gulong", count=8, seed=6))).extras["names"]
    jinyong = (await collect(names(engine, style="jinyong", count=8, seed=6))).extras["names"]
    shared = {opening(n) for n in gulong} & {opening(n) for n in jinyong}
    banned = opening(next(n for n in gulong if opening(n) in shared))
    by_style = dict(bundle.names_by_style)
    by_style["gulong"] = frozenset(n for n in by_style["gulong"] if opening(n) != banned)
    monkeypatch.setattr(bundle, "names_by_style", by_style)
    assert banned in openings_of(bundle.training_names)  # the mixed rule would let it through
    assert banned in bundle.name_openings("jinyong") - bundle.name_openings("gulong")
    result = (await collect(names(engine, style="gulong", count=8, seed=6))).extras["names"]
    expected = [n for n in gulong if opening(n) != banned]
    assert banned not in {opening(n) for n in result}
    assert result[: len(expected)] == expected
    again = (await collect(names(engine, style="jinyong", count=8, seed=6))).extras["names"]
    assert again == jinyong and banned in {opening(n) for n in again}
    # the evaluator's "shown" figures judge them the same way
    assert shown_filter(bundle, "gulong").shown(jinyong) == [
        n for n in jinyong if opening(n) != banned
    ]
    assert shown_filter(bundle, "jinyong").shown(jinyong) == jinyong


def test_the_filter_judges_length_repeats_novelty_scripts_and_openings() -> None:
    """Each of /name's reasons to drop a candidate, in one list."""
    rule = NameFilter(2, 6, known=frozenset({"mary"}), openings=frozenset({"as", "ma", "张"}))
    batch = ["Ashley", "a", "Ashlynn", "ASHLEY", "Mary", "Sshley", "张三", "赵敏", "as张", "ma\nx"]
    assert rule.shown(batch) == ["Ashley", "张三"]
    assert NameFilter(2, 6).shown(["Sshley", "Mary", "sshley"]) == ["Sshley", "Mary"]
    covered = NameFilter(2, 6, openings=frozenset({"as"}), prefix="ss")
    assert covered.shown(["sshley", "sxy"]) == ["sshley", "sxy"]  # the user chose "ss"
    assert NameFilter(2, 6, openings=frozenset({"as"}), prefix="s").shown(["sshley"]) == []
