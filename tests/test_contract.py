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
    return json.loads((tiny_models_dir / "lovecraft.json").read_text())


def test_shipped_shape_round_trips(good: dict[str, Any], tiny_models_dir: Path) -> None:
    meta = load_metadata(tiny_models_dir / "lovecraft.json")
    assert meta.to_dict() == good


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
        (lambda d: d["training"].update(validation_loss_nats=float("nan")), "training.validation"),
        (lambda d: d["training"].update(steps=True), "training.steps"),
        (lambda d: d["sampling"].update(top_p=0), "sampling.top_p"),
        (lambda d: d.update(name="../evil"), "name"),
        (lambda d: d["artefacts"].update(x=3), "artefacts.x"),
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
