"""Writes that must be atomic, failed midway: the checkpoint, an export (NAME.json is the
single switch over its ONNX files), an int8 copy added in place.

Each test fails the write at every step it takes (``os.replace``, or the writer after part of
its bytes) and checks that the folder is byte for byte what it was, with no temporary file
left; the export tests also load the model at every rename, as the bot starting then would.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

import training.checkpoint as checkpoint_module
import training.export as export_module
import training.quantize as quantize_module
from bot.engine.bundle import ModelBundle
from bot.engine.contract import load_metadata
from tests.helpers import tiny_config
from training.export import export, quantize_exported
from training.models import LSTMLanguageModel
from training.train import train


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(tiny_config(tmp_path_factory.mktemp("prose")))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


class Disk:
    """``os.replace`` that counts calls, fails the ``fail_at``-th, and lets ``check`` look at
    the folder before and after each rename."""

    def __init__(self, check: Callable[[], None] = lambda: None) -> None:
        self.calls = 0
        self.fail_at: int | None = None
        self.check = check
        self._real = os.replace

    def replace(self, src: str | Path, dst: str | Path) -> None:
        self.check()
        self.calls += 1
        if self.calls == self.fail_at:
            raise OSError(28, "No space left on device", str(dst))
        self._real(src, dst)
        self.check()


@contextmanager
def disk(monkeypatch: pytest.MonkeyPatch, check: Callable[[], None]) -> Iterator[Disk]:
    fake = Disk(check)
    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", fake.replace)
        yield fake


def loads_whole(json_path: Path) -> Callable[[], None]:
    """The check a reader makes: the model loads, fp32 and its int8 copy if listed."""

    def check() -> None:
        ModelBundle.load(json_path)
        ModelBundle.load(json_path, precision="int8")

    return check


def retrained(checkpoint: Path) -> Callable[[Path], tuple[LSTMLanguageModel, dict]]:
    """load_checkpoint giving other weights: the next export writes other ONNX bytes."""
    load = export_module.load_checkpoint

    def load_other(path: Path) -> tuple[LSTMLanguageModel, dict]:
        model, state = load(path)
        with torch.no_grad():
            model.head.bias.add_(0.05)
        return model, state

    return load_other


def test_reexport_switches_on_the_json_alone(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every rename of a re-export leaves a loadable model (old or new, never a mix); the old
    files go once nothing names them, with a leftover of an interrupted publish."""
    out = tmp_path / "models"
    old = export(checkpoint, "tiny", out, quantize="int8", gate_nats=10.0)
    leftover = out / "tiny.0123456789ab.onnx"  # a crash between two renames left this
    leftover.write_bytes(b"half")
    monkeypatch.setattr(export_module, "load_checkpoint", retrained(checkpoint))
    with disk(monkeypatch, loads_whole(out / "tiny.json")) as fake:
        new = export(checkpoint, "tiny", out, quantize="int8", gate_nats=10.0)
    assert fake.calls == 3  # two ONNX files under new names, then NAME.json
    assert new == load_metadata(out / "tiny.json")
    assert new.onnx_sha256 != old.onnx_sha256 and new.onnx_file != old.onnx_file
    assert new.artefacts == old.artefacts  # the same loss curve bytes keep their name
    named = {new.onnx_file, new.quantized["int8"].onnx_file, *new.artefacts.values()}
    assert set(os.listdir(out)) == {"tiny.json", *named}


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_a_reexport_failing_at_any_rename_changes_nothing(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    out = tmp_path / "models"
    export(checkpoint, "tiny", out, quantize="int8", gate_nats=10.0)
    before = snapshot(out)
    monkeypatch.setattr(export_module, "load_checkpoint", retrained(checkpoint))
    with disk(monkeypatch, loads_whole(out / "tiny.json")) as fake:
        fake.fail_at = fail_at
        with pytest.raises(OSError, match="No space left"):
            export(checkpoint, "tiny", out, quantize="int8", gate_nats=10.0)
    assert snapshot(out) == before


@pytest.mark.parametrize("fail_at", [0, 1, 2])
def test_an_int8_copy_added_in_place_is_all_or_nothing(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    """The int8 writer dies after half its bytes (0), or a rename fails (1, 2)."""
    out = tmp_path / "models"
    export(checkpoint, "tiny", out, quantize="int8", gate_nats=10.0)
    before = snapshot(out)
    monkeypatch.setattr("training.quantize.WEIGHT_LEVELS", 40)  # other int8 bytes
    if fail_at == 0:
        real_save = quantize_module.onnx.save

        def save_half(model: object, path: str) -> None:
            real_save(model, path)
            data = Path(path).read_bytes()
            Path(path).write_bytes(data[: len(data) // 2])
            raise OSError(28, "No space left on device", path)

        monkeypatch.setattr("training.quantize.onnx.save", save_half)
    with disk(monkeypatch, loads_whole(out / "tiny.json")) as fake:
        fake.fail_at = fail_at or None
        with pytest.raises(OSError, match="No space left"):
            quantize_exported(out / "tiny.json", gate_nats=10.0)
    assert snapshot(out) == before
    monkeypatch.undo()
    monkeypatch.setattr("training.quantize.WEIGHT_LEVELS", 40)
    meta, refusal = quantize_exported(out / "tiny.json", gate_nats=10.0)
    assert refusal is None and meta == load_metadata(out / "tiny.json")
    assert ModelBundle.load(out / "tiny.json", precision="int8").precision == "int8"
    assert snapshot(out).keys() == before.keys() - {"tiny.int8.onnx"} | {
        meta.quantized["int8"].onnx_file
    }


@pytest.mark.parametrize("where", ["writer", "rename"])
def test_a_checkpoint_write_failing_midway_keeps_the_previous_one(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    path = tmp_path / "best.safetensors"
    path.write_bytes(checkpoint.read_bytes())
    state = checkpoint_module.load(path)
    state.progress.step += 1  # what the next save would write
    real_save = checkpoint_module.save_file

    def save_half(tensors: dict, filename: str, metadata: dict) -> None:
        real_save(tensors, filename, metadata=metadata)
        data = Path(filename).read_bytes()
        Path(filename).write_bytes(data[: len(data) // 2])
        raise OSError(28, "No space left on device", filename)

    if where == "writer":
        monkeypatch.setattr(checkpoint_module, "save_file", save_half)
    with disk(monkeypatch, lambda: None) as fake:
        fake.fail_at = 1
        with pytest.raises(OSError, match="No space left"):
            checkpoint_module.save(path, state)
    assert os.listdir(tmp_path) == ["best.safetensors"]  # no temporary file left
    assert path.read_bytes() == checkpoint.read_bytes()
    assert checkpoint_module.load(path).progress.step == state.progress.step - 1
    monkeypatch.undo()
    checkpoint_module.save(path, state)
    assert checkpoint_module.load(path).progress.step == state.progress.step
    assert os.listdir(tmp_path) == ["best.safetensors"]
