"""/name drops names the model itself finds unlikely: a candidate whose mean log-likelihood per
character (bot.engine.name_score) is under its style's threshold, which
training/calibrate_names.py sets from held-out names and writes into the metadata."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.engine.bundle import ModelBundle, ModelLoadError
from bot.engine.engine import Engine
from bot.engine.name_filter import NameFilter
from bot.engine.name_score import name_scores
from bot.generators import collect
from bot.generators.names import names
from tests.helpers import name_row
from tests.tiny_corpora import GIVEN, SURNAMES
from training.calibrate_names import calibrate, main, write_plausibility
from training.card_names import plausibility_lines
from training.data import Document
from training.eval_loss import load_training_corpus
from training.report import NameCounts, NameResults, StylePlausibility

STYLE = "jinyong"  # Han names: no case, so a shown name is scored as the model wrote it


@pytest.fixture(scope="module")
def calibrated(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny models with the names model calibrated from its held-out names."""
    models = tmp_path_factory.mktemp("calibrated") / "models"
    shutil.copytree(tiny_models_dir, models)
    assert main([str(models / "names.json")]) == 0
    return models


def scores_of(bundle: ModelBundle, shown: list[str]) -> np.ndarray:
    tok = bundle.tokenizer
    start = [tok.eos_id, tok.style_id(STYLE)]
    return name_scores(bundle, start, [tok.encode(name).ids for name in shown], tok.eos_id)


async def request(models: Path, **options: object) -> list[str]:
    engine = Engine.load(models, only=["names"])
    try:
        result = await collect(names(engine, model="names", style=STYLE, **options))
    finally:
        await engine.aclose()
    return result.extras["names"]


async def test_an_unlikely_name_is_not_shown(tiny_models_dir: Path, calibrated: Path) -> None:
    """At T=1 the uncalibrated model shows names scoring under the threshold (two surnames
    in a row, four characters where the style has three); calibrated, it shows none of them
    and still as many names as asked for."""
    bundle = ModelBundle.load(calibrated / "names.json")
    threshold = bundle.meta.name_plausibility.thresholds[STYLE]
    options = {"count": 10, "temperature": 1.0, "seed": 1}
    unfiltered = await request(tiny_models_dir, **options)
    unlikely = [
        n for n, s in zip(unfiltered, scores_of(bundle, unfiltered), strict=True) if s < threshold
    ]
    assert unlikely  # the filter has something to drop
    shown = await request(calibrated, **options)
    assert len(shown) == 10
    assert min(scores_of(bundle, shown)) >= threshold
    assert not set(unlikely) & set(shown)


def test_the_threshold_passes_95_percent_of_a_held_out_list(tiny_models_dir: Path) -> None:
    """200 names of the style's shape that training never saw: the threshold is their 5th
    percentile, so 95% of them pass (the share the metadata records too)."""
    bundle = ModelBundle.load(tiny_models_dir / "names.json")
    rng = np.random.default_rng(0)
    heldout = [
        Document(rng.choice(list(SURNAMES)) + "".join(rng.choice(list(GIVEN), 2)), "x", STYLE)
        for _ in range(200)
    ]
    plausibility = calibrate(bundle, heldout)
    scores = scores_of(bundle, [d.text for d in heldout])
    threshold = plausibility["thresholds"][STYLE]
    assert plausibility["heldout_names"] == {STYLE: 200}
    assert plausibility["heldout_passed"][STYLE] == np.mean(scores >= threshold)
    assert 0.95 <= np.mean(scores >= threshold) < 0.96
    assert list(plausibility["thresholds"]) == [STYLE]  # no held-out names, no threshold


def test_calibration_writes_the_metadata_it_reports(calibrated: Path, capsys) -> None:
    bundle = ModelBundle.load(calibrated / "names.json")
    plausibility = bundle.meta.name_plausibility
    assert plausibility is not None and plausibility.quantile == 0.05
    assert sorted(plausibility.thresholds) == ["english", "gulong", "jinyong"]
    corpus = load_training_corpus(bundle)
    for style, threshold in plausibility.thresholds.items():
        heldout = [d for d in corpus.validation if d.style == style]
        assert plausibility.heldout_names[style] == len(heldout)
        assert calibrate(bundle, heldout)["thresholds"][style] == threshold
    data = json.loads((calibrated / "names.json").read_text("utf-8"))
    assert data["artefacts"] == bundle.meta.artefacts  # the rest of the file as it was


async def test_without_the_field_the_filter_is_off_and_the_log_says_so(
    calibrated: Path, tmp_path: Path, caplog
) -> None:
    """A model without the field (as exported) serves the same names as one whose thresholds
    pass everything, and the log says the filter is off and how to calibrate."""
    data = json.loads((calibrated / "names.json").read_text("utf-8"))
    passing = {**data["name_plausibility"], "thresholds": dict.fromkeys(("english", STYLE), -1e9)}
    off, everything = tmp_path / "off", tmp_path / "everything"
    for models in (off, everything):
        shutil.copytree(calibrated, models)
    write_plausibility(everything / "names.json", passing)
    del data["name_plausibility"]
    (off / "names.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    assert ModelBundle.load(off / "names.json").meta.name_plausibility is None
    options = {"count": 10, "temperature": 1.0, "seed": 1}
    with caplog.at_level(logging.WARNING, logger="bot.generators.names"):
        assert await request(off, **options) == await request(everything, **options)
    [warning] = [r.getMessage() for r in caplog.records if r.name == "bot.generators.names"]
    assert warning.startswith(f"names has no plausibility threshold for {STYLE} names")
    assert "python -m training.calibrate_names" in warning


async def test_the_same_seed_gives_the_same_names_alone_or_beside_other_requests(
    calibrated: Path,
) -> None:
    engine = Engine.load(calibrated, only=["names"])
    try:

        async def ask(style: str, seed: int) -> list[str]:
            generation = names(
                engine, model="names", style=style, count=8, temperature=1.0, seed=seed
            )
            return (await collect(generation)).extras["names"]

        alone = await ask(STYLE, 7)
        together = await asyncio.gather(ask("gulong", 3), ask(STYLE, 7), ask("english", 7))
    finally:
        await engine.aclose()
    assert together[1] == alone and len(alone) == 8


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p["thresholds"].update(klingon=-2.0), "name_plausibility.thresholds.klingon"),
        (lambda p: p["thresholds"].update(jinyong="low"), "name_plausibility.thresholds.jinyong"),
        (lambda p: p["thresholds"].update(jinyong=0.5), "name_plausibility.thresholds.jinyong"),
        (lambda p: p.update(quantile=1.5), "name_plausibility.quantile"),
        (lambda p: p.pop("precision"), "name_plausibility.precision"),
        (lambda p: p["heldout_passed"].update(gulong=2), "name_plausibility.heldout_passed.gulong"),
        (lambda p: p.update(heldout_names={"gulong": 0}), "name_plausibility.heldout_names"),
    ],
)
def test_a_malformed_field_is_the_models_load_error(
    calibrated: Path, tmp_path: Path, change, field
) -> None:
    models = tmp_path / "models"
    shutil.copytree(calibrated, models)
    data = json.loads((models / "names.json").read_text("utf-8"))
    change(data["name_plausibility"])
    (models / "names.json").write_text(json.dumps(data), "utf-8")
    with pytest.raises(ModelLoadError, match=f"field '{field}'"):
        ModelBundle.load(models / "names.json")


def test_the_filter_judges_scores_only_with_a_threshold() -> None:
    judged = NameFilter(2, 12, min_score=-2.0)
    assert judged.shown(["ab", "cd", "ef"], [-1.0, -2.5, -2.0]) == ["ab", "ef"]
    assert NameFilter(2, 12).shown(["ab", "cd"]) == ["ab", "cd"]
    with pytest.raises(ValueError, match="score"):
        judged.shown(["ab"])


def test_the_card_shows_both_figures_per_style_with_dropped_names() -> None:
    figures = StylePlausibility(
        threshold=-3.0,
        calibrated_on="int8",
        heldout_names=100,
        heldout_passed=0.95,
        tail_names=40,
        tail_passed=0.9,
    )
    row = name_row(0.8, STYLE, unlikely_share=0.05)
    results = NameResults(
        temperatures=[row],
        examples={},
        unlikely_examples={"0.8": {STYLE: ["石死意"]}},
        plausibility={STYLE: figures},
        reference=NameCounts(length_counts={}),
    )
    text = "\n".join(plausibility_lines(results))
    assert f"| {STYLE} | -3.000 | 95.0% of 100 | 90.0% of 40 | 5.0% |" in text
    assert "- T=0.8, jinyong: 石死意" in text and "int8 file" in text
    off = dataclasses.replace(figures, threshold=None)
    results = dataclasses.replace(results, plausibility={STYLE: off})
    assert "No thresholds in the metadata" in "\n".join(plausibility_lines(results))
