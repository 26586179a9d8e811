"""The files a model's metadata names: confined to its folder, hashed, and the precision served."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.config import ConfigError, load_settings
from bot.engine.bundle import ModelBundle, ModelLoadError
from bot.engine.contract import load_metadata
from bot.engine.engine import Engine
from bot.engine.sampling import SamplingParams
from bot.engine.scheduler import Scheduler
from training.random_model import export_random_model, write_ngram_artefact

PARAMS = SamplingParams(temperature=1.0)


async def collect(stream) -> list[int]:
    return [t async for t in stream]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2x64 model with an int8 copy and one artefact."""
    folder = tmp_path_factory.mktemp("source")
    write_ngram_artefact(folder / "poems.4grams.npy", ["the old dark house stood alone"])
    return export_random_model(
        folder,
        "poems",
        layers=2,
        hidden=64,
        int8=True,
        artefacts={"ngram_hashes": "poems.4grams.npy"},
    )


@pytest.fixture
def models(source: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    shutil.copytree(source.parent, folder)
    return folder


def edit(json_path: Path, change) -> None:
    data = json.loads(json_path.read_text())
    change(data)
    json_path.write_text(json.dumps(data))


def test_precision_chooses_the_file_and_falls_back_to_fp32(models: Path) -> None:
    fp32 = ModelBundle.load(models / "poems.json")
    int8 = ModelBundle.load(models / "poems.json", precision="int8")
    assert (fp32.precision, fp32.onnx_path.name) == ("fp32", "poems.onnx")
    assert (int8.precision, int8.onnx_path.name) == ("int8", "poems.int8.onnx")
    edit(models / "poems.json", lambda d: d.update(quantized={}))  # the gate refused it
    assert ModelBundle.load(models / "poems.json", precision="int8").precision == "fp32"
    with pytest.raises(ValueError, match="precision"):
        ModelBundle.load(models / "poems.json", precision="int4")


def test_engine_serves_int8_by_default_and_fp32_when_asked(models: Path) -> None:
    assert Engine.load(models).describe()["poems"]["precision"] == "int8"
    assert Engine.load(models, precision="fp32").describe()["poems"]["precision"] == "fp32"


def test_int8_file_is_hash_checked(models: Path) -> None:
    with (models / "poems.int8.onnx").open("ab") as f:
        f.write(b"\0")
    ModelBundle.load(models / "poems.json")  # fp32 does not read it
    with pytest.raises(ModelLoadError, match=r"poems\.int8\.onnx: sha256 .* quantized\.int8\."):
        ModelBundle.load(models / "poems.json", precision="int8")


def test_artefacts_are_hash_checked_when_present(models: Path) -> None:
    artefact = models / "poems.4grams.npy"
    np.save(artefact, np.arange(5, dtype=np.uint64))
    with pytest.raises(ModelLoadError, match=r"poems\.4grams\.npy: sha256 .* artefact_sha256"):
        ModelBundle.load(models / "poems.json")
    artefact.unlink()  # a side file may be left out: the feature it serves is then off
    assert ModelBundle.load(models / "poems.json").ngram_hashes is None


@pytest.mark.parametrize("field", ["onnx_file", "artefact", "int8"])
def test_a_link_out_of_the_model_folder_is_refused(models: Path, tmp_path: Path, field) -> None:
    """A bare file name can still leave the folder through a symbolic link."""
    outside = tmp_path / "outside"
    outside.mkdir()
    name = {
        "onnx_file": "poems.onnx",
        "artefact": "poems.4grams.npy",
        "int8": "poems.int8.onnx",
    }[field]
    (models / name).rename(outside / name)
    (models / name).symlink_to(outside / name)
    with pytest.raises(ModelLoadError, match=rf"{name} is outside the model folder"):
        ModelBundle.load(models / "poems.json", precision="int8")


def test_paths_in_the_metadata_never_reach_outside(models: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.npy"
    shutil.copy(models / "poems.4grams.npy", secret)
    edit(models / "poems.json", lambda d: d["artefacts"].update(ngram_hashes=str(secret)))
    with pytest.raises(ModelLoadError, match=r"artefacts\.ngram_hashes"):
        ModelBundle.load(models / "poems.json")
    edit(models / "poems.json", lambda d: d["artefacts"].update(ngram_hashes="../secret.npy"))
    with pytest.raises(ModelLoadError, match=r"artefacts\.ngram_hashes"):
        ModelBundle.load(models / "poems.json")


def test_users_see_file_names_only_the_log_sees_paths(models: Path) -> None:
    (models / "poems.onnx").write_bytes(b"broken")
    engine = Engine.load(models.resolve(), precision="fp32")
    assert str(models.resolve()) in engine.load_errors["poems"]  # for the operator's log
    brief = engine.unavailable["poems"]
    assert brief.startswith("poems.onnx: sha256 ")
    assert "/" not in brief and str(models.resolve()) not in brief
    secret = str(models.resolve() / "private" / "x.onnx")  # a path in the metadata itself
    edit(models / "poems.json", lambda d: d.update(onnx_file=secret))
    engine = Engine.load(models.resolve(), precision="fp32")
    assert secret in engine.load_errors["poems"]
    assert engine.unavailable["poems"] == "poems.json: invalid field 'onnx_file'"


def test_precision_setting(tmp_path: Path) -> None:
    assert load_settings(environ={}).precision == "int8"
    assert load_settings(environ={"BOT_PRECISION": "fp32"}).precision == "fp32"
    (tmp_path / "bot.toml").write_text('precision = "fp32"\n')
    assert load_settings(tmp_path / "bot.toml", environ={}).precision == "fp32"
    with pytest.raises(ConfigError, match=r"BOT_PRECISION \(precision\).*fp32.*int8"):
        load_settings(environ={"BOT_PRECISION": "int4"})


async def test_int8_seeded_text_is_the_same_alone_or_batched(source: Path) -> None:
    bundle = ModelBundle.load(source, precision="int8")
    assert bundle.precision == "int8"
    requests = [
        {"prompt": [3 + i % 5] * (1 + 3 * (i % 4)), "params": PARAMS, "seed": i, "max_tokens": 40}
        for i in range(12)
    ]
    sched = Scheduler(bundle)
    alone = [await collect(sched.submit(**r)) for r in requests]
    with sched._lock:  # the worker sees all twelve at once: they prime and step together
        streams = [sched.submit(**r) for r in requests]
    together = await asyncio.gather(*map(collect, streams))
    await sched.aclose()
    assert sched.max_batch_seen == 12
    assert len({tuple(t) for t in alone}) == 12
    assert list(together) == alone


def test_model_card_gives_both_losses(source: Path) -> None:
    from training.card_loss import int8_rows

    meta = load_metadata(source)
    (row,) = int8_rows(meta, source.parent)
    assert row[0] == "poems int8 (served by default)"
    assert "poems.int8.onnx" in row[3] and "fp32 1.50000, int8 1.50000 (+0.00000" in row[3]
    without = dataclasses.replace(meta, quantized={})
    assert int8_rows(without, source.parent) == []
