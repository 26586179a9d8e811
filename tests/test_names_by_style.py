"""The exported names of each style (``names_by_style``): /name judges a name's opening
against its own style's names; a model exported without the list keeps the mixed rule; the
list is hashed and confined like every artefact."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from bot.engine.bundle import ModelBundle, ModelLoadError
from bot.engine.engine import Engine
from bot.engine.name_filter import opening, openings_of
from bot.generators import collect, start
from bot.products import BUILTIN, by_command
from tests.tiny_corpora import write_names

names = functools.partial(start, by_command(BUILTIN)["name"])
STYLES = ("english", "gulong", "jinyong")


@pytest.fixture
def models(tiny_models_dir: Path, tmp_path: Path) -> Path:
    """A copy of the tiny names model's folder, free to edit."""
    folder = tmp_path / "models"
    folder.mkdir()
    for path in tiny_models_dir.glob("names.*"):
        shutil.copy(path, folder / path.name)
    return folder


def edit(json_path: Path, change) -> None:
    data = json.loads(json_path.read_text("utf-8"))
    change(data)
    json_path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")


def drop_list(data: dict) -> None:
    """The metadata as exported before the per-style list existed."""
    del data["artefacts"]["names_by_style"]
    del data["artefact_sha256"]["names_by_style"]


def test_each_style_gets_the_openings_of_its_own_names(tiny_models_dir: Path, tmp_path) -> None:
    bundle = ModelBundle.load(tiny_models_dir / "names.json")
    corpus = write_names(tmp_path)  # the tiny corpus again (seeded)
    source = {
        style: frozenset(corpus.joinpath(f"{style}.txt").read_text("utf-8").split())
        for style in STYLES
    }
    assert bundle.names_by_style == source
    for style in STYLES:
        assert bundle.name_openings(style) == openings_of(source[style])
    assert bundle.name_openings("english").isdisjoint(bundle.name_openings("jinyong"))


@pytest.mark.parametrize("how", ["not listed", "file missing"])
async def test_a_model_without_the_list_judges_by_every_styles_names(
    models: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Older exports load, and every style's openings are those of the flat list, as before."""
    if how == "not listed":
        edit(models / "names.json", drop_list)
    else:
        (models / "names.names_by_style.json").unlink()
    engine = Engine.load(models)
    try:
        bundle = engine.models["names"]
        assert bundle.names_by_style is None
        mixed = openings_of(bundle.training_names)
        assert all(bundle.name_openings(style) == mixed for style in STYLES)
        free = (await collect(names(engine, style="gulong", count=6, seed=6))).extras["names"]
        banned = opening(free[0])
        known = frozenset(n for n in bundle.training_names if opening(n) != banned)
        monkeypatch.setattr(bundle, "training_names", known)
        result = (await collect(names(engine, style="gulong", count=6, seed=6))).extras["names"]
        expected = [n for n in free if opening(n) != banned]
        assert banned not in {opening(n) for n in result}
        assert result[: len(expected)] == expected
    finally:
        await engine.aclose()


def test_the_list_is_hash_checked(models: Path) -> None:
    listed = models / "names.names_by_style.json"
    data = json.loads(listed.read_text("utf-8"))
    data["gulong"].append("张大")
    listed.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    match = r"names\.names_by_style\.json: sha256 .* artefact_sha256\.names_by_style"
    with pytest.raises(ModelLoadError, match=match):
        ModelBundle.load(models / "names.json")


def test_the_list_is_confined_to_the_model_folder(models: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    listed = models / "names.names_by_style.json"
    listed.rename(outside / listed.name)
    listed.symlink_to(outside / listed.name)
    with pytest.raises(ModelLoadError, match=r"names_by_style\.json is outside the model folder"):
        ModelBundle.load(models / "names.json")
    edit(models / "names.json", lambda d: d["artefacts"].update(names_by_style="../x.json"))
    with pytest.raises(ModelLoadError, match=r"artefacts\.names_by_style"):
        ModelBundle.load(models / "names.json")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('["zhang san"]', "expected a JSON object of style -> list of names"),
        ('{"gulong": "张三"}', "expected a JSON object of style -> list of names"),
        ('{"gulong": [3]}', "expected a JSON object of style -> list of names"),
        ("{not json", "not a JSON names list"),
    ],
)
def test_a_malformed_list_is_reported_with_its_file(models: Path, content, problem) -> None:
    listed = models / "names.names_by_style.json"
    listed.write_text(content, "utf-8")
    digest = hashlib.sha256(content.encode()).hexdigest()
    edit(models / "names.json", lambda d: d["artefact_sha256"].update(names_by_style=digest))
    bundle = ModelBundle.load(models / "names.json")
    with pytest.raises(ModelLoadError, match=rf"names_by_style\.json: {problem}"):
        bundle.name_openings("gulong")
