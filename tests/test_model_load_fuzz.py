"""A malformed NAME.json is that model's load error, named with its file; the others load.

The fixed cases are the ones found by hand (issue #23); the fuzz writes random bytes, random
JSON and the good metadata with one random value swapped in, beside two good models.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bot.engine.bundle as bundle_module
from bot.engine.engine import Engine
from training.random_model import export_random_model

GOOD = ("alpha", "beta")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    for seed, name in enumerate(GOOD):
        export_random_model(folder, name, layers=1, hidden=8, emb=4, seed=seed)
    return folder


def good_metadata(models: Path) -> dict[str, Any]:
    """alpha's metadata renamed ``bad``: it names alpha.onnx, which is there and matches."""
    return {**json.loads((models / "alpha.json").read_text("utf-8")), "name": "bad"}


def assert_only_bad_fails(models: Path, content: bytes) -> str:
    """Write ``bad.json``; both good models load beside it, and its error names its file."""
    (models / "bad.json").write_bytes(content)
    try:
        engine = Engine.load(models, precision="fp32")
    finally:
        (models / "bad.json").unlink()
    assert set(GOOD) <= set(engine.models) <= {*GOOD, "bad"}
    assert set(engine.load_errors) <= {"bad"}
    error = engine.load_errors.get("bad", "")
    if error:  # the operator's log names the metadata file (and the file it names, if any)
        assert str(models / "bad.json") in error
        assert str(models) not in engine.unavailable["bad"]  # users never see a server path
    return error


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: deep(100_000), r"bad\.json: field '<file>': is not valid JSON: nested too"),
        (lambda d: {**d, "onnx_file": "alpha\0.onnx"}, r"field 'onnx_file': must be a file name"),
        (
            lambda d: {**d, "artefacts": {"x": "a\0"}, "artefact_sha256": {"x": "0" * 64}},
            r"field 'artefacts\.x': must be a file name",
        ),
        (lambda d: {**d, "onnx_file": "a" * 300}, r"field 'onnx_file': must be a file name"),
        (lambda d: {**d, "onnx_file": "\ud800.onnx"}, r"field 'onnx_file': must be a file name"),
        (lambda d: '{"format_version": ' + "1" * 5000 + "}", r"is not valid JSON: Exceeds"),
    ],
)
def test_a_malformed_model_does_not_stop_the_others(models: Path, change, expected) -> None:
    data = change(good_metadata(models))
    text = data if isinstance(data, str) else json.dumps(data)
    error = assert_only_bad_fails(models, text.encode("utf-8", "surrogatepass"))
    assert error.startswith(str(models / "bad.json"))
    assert re.search(expected, error), error


def test_a_link_loop_or_an_unreadable_file_is_that_models_error(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "models"
    shutil.copytree(models, folder)
    (folder / "beta.onnx").unlink()
    (folder / "beta.onnx").symlink_to("beta.onnx")
    engine = Engine.load(folder, precision="fp32")
    assert list(engine.models) == ["alpha"]
    assert "beta.json: beta.onnx is a link that leads to itself" in engine.load_errors["beta"]

    def unreadable(path: Path) -> str:  # what EACCES or EIO gives, even as root
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(bundle_module, "file_sha256", unreadable)
    engine = Engine.load(folder, precision="fp32")
    assert engine.models == {}
    error = engine.load_errors["alpha"]
    assert error.startswith(f"{folder / 'alpha.json'}: a file it names cannot be read")
    assert engine.unavailable["alpha"] == "alpha.json: a file it names cannot be read"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
# file names with control characters, lone surrogates, slashes, dots, over NAME_MAX bytes
ODD_TEXT = st.lists(
    st.sampled_from(["\0", "\x1f", "\x7f", "\ud800", "/", "..", "a" * 300]) | st.characters(),
    max_size=6,
).map("".join)
GARBAGE = (
    st.binary(max_size=200)
    | JSON.map(lambda v: json.dumps(v).encode())
    | st.integers(1_000, 100_000).map(lambda n: deep(n).encode())  # RecursionError
    | st.integers(4_301, 6_000).map(lambda n: ("7" * n).encode())  # int() digit limit
)
FILE_FIELDS = ("onnx_file", "artefacts", "quantized")


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with the value at one random path replaced (or removed); a third of the time
    a file name is replaced by odd text."""
    data = json.loads(json.dumps(base))
    if draw(st.integers(0, 2)) == 0:
        field = draw(st.sampled_from(FILE_FIELDS))
        name = draw(ODD_TEXT)
        int8 = {"onnx_file": name, "onnx_sha256": "0" * 64, "heldout_loss_nats": 1.0}
        int8 |= {"fp32_heldout_loss_nats": 1.0, "heldout_tokens": 1, "gate_nats": 0.0}
        data[field] = {"onnx_file": name, "artefacts": {"x": name}, "quantized": {"int8": int8}}[
            field
        ]
        data["artefact_sha256"] = {key: "0" * 64 for key in data["artefacts"]}
        return data
    node: Any = data
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and draw(st.integers(0, 5)) == 0:
            del node[key]
        else:
            node[key] = draw(JSON | ODD_TEXT)
        return data


FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(content=GARBAGE)
def test_fuzz_garbage_and_random_json(models: Path, content: bytes) -> None:
    assert assert_only_bad_fails(models, content)


@FUZZ
@given(data=st.data())
def test_fuzz_one_field_of_good_metadata_changed(models: Path, data: st.DataObject) -> None:
    changed = data.draw(mutated(good_metadata(models)))
    text = json.dumps(changed, ensure_ascii=False).encode("utf-8", "surrogatepass")
    assert_only_bad_fails(models, text)
