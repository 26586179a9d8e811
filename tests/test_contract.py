"""The metadata contract: every bad field is named, with the file."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bot.engine.contract import MetadataError, load_metadata, metadata_from_dict


@pytest.fixture(scope="module")
def good(tiny_models_dir: Path) -> dict[str, Any]:
    """A format 2 file with every optional part: artefacts, their hashes and an int8 entry."""
    data = json.loads((tiny_models_dir / "lovecraft.json").read_text())
    data["quantized"] = {
        "int8": {
            "onnx_file": "lovecraft.int8.onnx",
            "onnx_sha256": "a" * 64,
            "heldout_loss_nats": 2.501,
            "fp32_heldout_loss_nats": 2.5,
            "heldout_tokens": 1000,
            "gate_nats": 0.005,
        }
    }
    assert data["artefacts"] and set(data["artefact_sha256"]) == set(data["artefacts"])
    return data


def test_shipped_shape_round_trips(good: dict[str, Any], tiny_models_dir: Path) -> None:
    meta = load_metadata(tiny_models_dir / "lovecraft.json")
    assert meta.to_dict() == {**good, "quantized": {}}
    assert metadata_from_dict(good).to_dict() == good


def test_format_1_reads_as_format_2_without_int8_or_hashes(good: dict[str, Any]) -> None:
    data = copy.deepcopy(good)
    data["format_version"] = 1
    meta = metadata_from_dict(data)  # a format 1 file has neither key; both are ignored
    assert (meta.format_version, meta.quantized, meta.artefact_sha256) == (1, {}, {})
    assert meta.artefacts == good["artefacts"]
    data["artefacts"]["loss_curve"] = "../outside.png"
    with pytest.raises(MetadataError, match=r"artefacts\.loss_curve"):  # confined in format 1 too
        metadata_from_dict(data)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("vocab"), "vocab"),
        (lambda d: d.update(format_version=99), "format_version"),
        (lambda d: d.update(level="byte"), "level"),
        (lambda d: d["vocab"].append(d["vocab"][5]), "vocab["),
        (lambda d: d["special_tokens"].update(eos="<end>"), "special_tokens.eos"),
        (lambda d: d["architecture"].update(hidden_size="big"), "architecture.hidden_size"),
        (lambda d: d["architecture"].pop("layers"), "architecture.layers"),
        (lambda d: d["architecture"].update(dropout=1.5), "architecture.dropout"),
        (lambda d: d["corpus"].update(sha256="abc"), "corpus.sha256"),
        (lambda d: d["corpus"].update(kind="poem"), "corpus.kind"),  # a way of generating
        (lambda d: d["training"].update(validation_loss_nats=float("nan")), "training.validation"),
        (lambda d: d["training"].update(steps=True), "training.steps"),
        (lambda d: d["sampling"].update(top_p=0), "sampling.top_p"),
        (lambda d: d.update(name="../evil"), "name"),
        (lambda d: d["artefacts"].update(x=3), "artefacts.x"),
        (lambda d: d.update(onnx_file="../lovecraft.onnx"), "onnx_file"),
        (lambda d: d.update(onnx_file="/etc/passwd"), "onnx_file"),
        (lambda d: d.update(onnx_file="sub/lovecraft.onnx"), "onnx_file"),
        (lambda d: d.update(onnx_file=".."), "onnx_file"),
        (lambda d: d.update(onnx_sha256="xyz"), "onnx_sha256"),
        (lambda d: d["artefacts"].update(loss_curve="../../secret.png"), "artefacts.loss_curve"),
        (lambda d: d["artefacts"].update(loss_curve="C:\\x.png"), "artefacts.loss_curve"),
        (lambda d: d["artefact_sha256"].pop("loss_curve"), "artefact_sha256"),
        (lambda d: d["artefact_sha256"].update(loss_curve="0" * 63), "artefact_sha256.loss_c"),
        (lambda d: d["quantized"].update(int4=d["quantized"]["int8"]), "quantized.int4"),
        (lambda d: d["quantized"]["int8"].update(onnx_file="/tmp/x.onnx"), "quantized.int8.onnx_f"),
        (
            lambda d: d["quantized"]["int8"].update(onnx_file=d["onnx_file"]),
            "quantized.int8.onnx_f",
        ),
        (lambda d: d["quantized"]["int8"].pop("onnx_sha256"), "quantized.int8.onnx_sha256"),
        (lambda d: d["quantized"]["int8"].update(heldout_loss_nats=9.0), "quantized.int8.held"),
    ],
)
def test_bad_fields_are_named(good: dict[str, Any], mutate, field: str) -> None:
    data = copy.deepcopy(good)
    mutate(data)
    with pytest.raises(MetadataError) as info:
        metadata_from_dict(data, "models/x.json")
    assert info.value.field.startswith(field)
    assert str(info.value).startswith("models/x.json: field '")


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="does not exist"):
        load_metadata(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(MetadataError, match=r"bad\.json.*not valid JSON"):
        load_metadata(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(MetadataError, match="JSON object"):
        load_metadata(tmp_path / "list.json")
