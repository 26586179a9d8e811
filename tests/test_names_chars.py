"""/name's character check of the Han styles (bot.engine.name_chars): a character after the
first must be used by K names of the style or 2K of the Han styles together, K set from
held-out names by training/calibrate_names.py; English names are never judged by it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.engine.bundle import ModelBundle, ModelLoadError
from bot.engine.engine import Engine
from bot.engine.name_chars import char_usage
from bot.engine.name_filter import NameFilter
from bot.generators import collect
from bot.generators.names import names
from tests.helpers import name_row
from tests.tiny_corpora import GIVEN, SURNAMES
from training.calibrate_names import calibrate, chars_passed, train_char_usage, write_plausibility
from training.card_names import char_lines
from training.data import Document
from training.report import CharFigures, NameCounts, NameResults, StylePlausibility

STYLE = "jinyong"


def test_the_rule_counts_names_of_the_style_and_of_the_han_styles() -> None:
    by_style = {
        "jinyong": ["张无忌", "张三丰", "赵敏"],
        "gulong": ["李寻欢", "楚留香", "陆小凤", "花满楼", "李三"],
        "english": ["ann", "bob"],
    }
    usage = char_usage(by_style, STYLE, 1)
    assert usage is not None and usage.rare("周无忌") is None  # 无 and 忌: one jinyong name
    assert usage.rare("周小凤") == "小"  # one gulong name: under 2K
    assert usage.rare("周三凤") == "凤"  # 三 twice among the Han styles passes; 凤 once does not
    assert usage.rare("死无忌") is None  # the first character is the opening's to judge
    assert usage.rare("周无x") is None  # only Han characters are judged
    assert usage.rare("周小凤", start=3) is None  # the asked-for letters are the user's
    stricter = char_usage(by_style, STYLE, 2)
    assert stricter.rare("周张忌") == "忌"  # 张: two jinyong names; 忌: one
    assert stricter.rare("周三") == "三"  # one jinyong name and two Han names: under 2 and 4
    assert char_usage(by_style, "english", 1) is None  # not a Han style
    assert char_usage(by_style, STYLE, None) is None and char_usage(by_style, "xx", 1) is None
    judged = NameFilter(2, 6, chars=usage, prefix="周小")
    assert judged.shown(["周小忌", "周小死", "周三凤", "周无忌"]) == ["周小忌", "周无忌"]


def test_k_is_the_largest_passing_95_percent_of_a_held_out_list(tiny_models_dir: Path) -> None:
    """Training names whose given characters are used unevenly (a few rare ones) and 200
    held-out names drawn the same way: K passes at least 95% of them, K + 1 fewer."""
    bundle = ModelBundle.load(tiny_models_dir / "names.json")
    rng = np.random.default_rng(0)
    given = list(GIVEN)
    weights = 1 / np.arange(1, len(given) + 1) ** 2.5
    weights /= weights.sum()

    def draw(count: int) -> list[Document]:
        return [
            Document(
                rng.choice(list(SURNAMES)) + "".join(rng.choice(given, 2, p=weights)), "x", STYLE
            )
            for _ in range(count)
        ]

    train, heldout = draw(400), draw(200)
    plausibility = calibrate(bundle, heldout, train=train)
    k = plausibility["char_min_names"][STYLE]
    names = [d.text for d in heldout]
    share = chars_passed(train_char_usage(train, STYLE, k), names)
    assert plausibility["char_heldout_passed"][STYLE] == share
    assert 0.95 <= share < 1
    assert chars_passed(train_char_usage(train, STYLE, k + 1), names) < 0.95
    assert "english" not in plausibility["char_min_names"]


@pytest.fixture(scope="module")
def judged(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny models with every score passing and the character check on at K = 1 for
    jinyong (and asked for english, which it cannot judge)."""
    models = tmp_path_factory.mktemp("judged") / "models"
    shutil.copytree(tiny_models_dir, models)
    styles = ("english", "gulong", STYLE)
    write_plausibility(
        models / "names.json",
        {
            "thresholds": dict.fromkeys(styles, -1e9),
            "quantile": 0.05,
            "precision": "fp32",
            "heldout_names": dict.fromkeys(styles, 1),
            "heldout_passed": dict.fromkeys(styles, 1.0),
            "char_min_names": {STYLE: 1, "english": 1},
        },
    )
    return models


async def ask(engine: Engine, style: str = STYLE, seed: int = 1, count: int = 10) -> list[str]:
    generation = names(engine, model="names", style=style, count=count, temperature=1.0, seed=seed)
    return (await collect(generation)).extras["names"]


def without(engine: Engine, used: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exported names of every style, less those using ``used`` after their first."""
    bundle = engine.models["names"]
    by_style = {
        s: frozenset(n for n in v if used not in n[1:]) for s, v in bundle.names_by_style.items()
    }
    monkeypatch.setattr(bundle, "names_by_style", by_style)


async def test_a_name_with_a_never_used_character_is_not_shown(
    judged: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A character no exported name uses after its first: the names using it are dropped,
    the others come in the same order, as many as asked for; the same alone or beside other
    requests."""
    engine = Engine.load(judged, only=["names"])
    try:
        free = await ask(engine)
        used = free[0][1]
        without(engine, used, monkeypatch)
        shown = await ask(engine)
        together = await asyncio.gather(
            ask(engine, "gulong", 3), ask(engine), ask(engine, "english")
        )
    finally:
        await engine.aclose()
    assert len(shown) == 10 and all(used not in n[1:] for n in shown)
    expected = [n for n in free if used not in n[1:]]
    assert shown[: len(expected)] == expected and len(expected) < 10
    assert together[1] == shown


async def test_english_names_are_not_judged(judged: Path, tiny_models_dir: Path) -> None:
    """char_min_names for english changes nothing: the same names as without the check."""
    engines = [Engine.load(models, only=["names"]) for models in (judged, tiny_models_dir)]
    try:
        checked, plain = [await ask(e, "english", seed=5, count=8) for e in engines]
    finally:
        for engine in engines:
            await engine.aclose()
    assert checked == plain and len(checked) == 8


@pytest.mark.parametrize("value", [{STYLE: 0}, {"klingon": 1}, {STYLE: True}, [1]])
def test_a_malformed_k_is_the_models_load_error(judged: Path, tmp_path: Path, value) -> None:
    models = tmp_path / "models"
    shutil.copytree(judged, models)
    data = json.loads((models / "names.json").read_text("utf-8"))
    data["name_plausibility"]["char_min_names"] = value
    (models / "names.json").write_text(json.dumps(data), "utf-8")
    with pytest.raises(ModelLoadError, match=r"field 'name_plausibility\.char_min_names'"):
        ModelBundle.load(models / "names.json")


def test_the_card_shows_the_character_check_per_style() -> None:
    judged = CharFigures(
        chars_min_names=1,
        chars_heldout_passed=0.961,
        both_heldout_passed=0.913,
        chars_tail_passed=0.891,
        both_tail_passed=None,
    )
    unjudged = dataclasses.replace(judged, chars_min_names=None, both_heldout_passed=None)

    def style(chars: CharFigures | None) -> StylePlausibility:
        return StylePlausibility(
            threshold=-3.0,
            calibrated_on="fp32",
            heldout_names=0,
            heldout_passed=None,
            tail_names=0,
            tail_passed=None,
            chars=chars,
        )

    row = name_row(1.0, "gulong", rare_char_share=0.02)
    results = NameResults(
        temperatures=[row],
        examples={},
        rare_char_examples={"1": {"gulong": ["眇圻"]}},
        plausibility={"english": style(None), "gulong": style(judged), STYLE: style(unjudged)},
        reference=NameCounts(length_counts={}),
    )
    text = "\n".join(char_lines(results))
    assert "| gulong | 1 | 96.1% | 89.1% | 91.3% | n/a | 2.0% |" in text
    assert f"| {STYLE} | off | 96.1% | 89.1% | n/a | n/a | n/a |" in text
    assert "- T=1, gulong: 眇圻" in text and "| english" not in text
