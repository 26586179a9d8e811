"""Export: the ONNX step model matches torch, artefacts and metadata are complete."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

import training.export as export_module
from bot.engine.bundle import ModelBundle, file_sha256
from bot.engine.contract import load_metadata
from bot.engine.ngrams import originality
from tests.helpers import tiny_config
from tests.tiny_corpora import write_names, write_poems
from training.export import ExportError, check_parity, export, export_onnx, quantize_exported
from training.models import StepModel
from training.train import train


@pytest.fixture(scope="module")
def prose_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(tiny_config(tmp_path_factory.mktemp("prose")))


def test_export_writes_contract_files(prose_checkpoint: Path, tmp_path: Path) -> None:
    meta = export(prose_checkpoint, "tiny", tmp_path)
    assert load_metadata(tmp_path / "tiny.json") == meta
    assert meta.training.validation_loss_nats > 0
    assert meta.training.validation_bits_per_token == pytest.approx(
        meta.training.validation_loss_nats / np.log(2), rel=1e-4
    )
    assert meta.corpus.kind == "prose" and len(meta.corpus.sha256) == 64
    assert meta.training.device.startswith("cpu")
    assert meta.artefacts["loss_curve"] == "tiny.loss.png"

    session = ort.InferenceSession(str(tmp_path / "tiny.onnx"))
    assert [i.name for i in session.get_inputs()] == ["tokens", "h", "c"]
    assert [o.name for o in session.get_outputs()] == ["logits", "h_out", "c_out"]
    layers, hidden = meta.architecture.layers, meta.architecture.hidden_size
    for batch, steps in ((1, 1), (5, 9), (32, 1)):  # other sizes than the export example
        h = np.zeros((layers, batch, hidden), np.float32)
        logits, h_out, c_out = session.run(
            None, {"tokens": np.zeros((batch, steps), np.int64), "h": h, "c": h}
        )
        assert logits.shape == (batch, meta.vocab_size)
        assert h_out.shape == c_out.shape == h.shape


def test_parity_holds_and_a_broken_model_fails(
    prose_checkpoint: Path, tmp_path: Path, monkeypatch
) -> None:
    model, _ = export_module.load_checkpoint(prose_checkpoint)
    export_onnx(model, tmp_path / "ok.onnx")
    assert check_parity(model, tmp_path / "ok.onnx") < 1e-4

    def export_perturbed(model: torch.nn.Module, path: Path) -> None:
        broken, _ = export_module.load_checkpoint(prose_checkpoint)
        with torch.no_grad():
            broken.head.bias.add_(0.01)
        export_onnx(broken, path)

    monkeypatch.setattr(export_module, "export_onnx", export_perturbed)
    with pytest.raises(ExportError, match="disagree"):
        export(prose_checkpoint, "broken", tmp_path / "out")
    assert not (tmp_path / "out" / "broken.onnx").exists()
    assert not (tmp_path / "out" / "broken.json").exists()


def test_names_artefacts_list_every_name_and_its_style(tmp_path: Path) -> None:
    """Every name of the corpus, the held-out tail's too: in one list, and by style."""
    corpus = write_names(tmp_path / "corpus")
    config = tiny_config(
        tmp_path, corpus_kind="names", corpus_path=str(corpus), epochs=2.0, tail_fraction=0.1
    )
    meta = export(train(config), "names", tmp_path / "out")
    assert set(meta.special_tokens.styles) == {"english", "jinyong", "gulong"}
    listed = (tmp_path / "out" / meta.artefacts["training_names"]).read_text("utf-8").split()
    source = {f.stem: set(f.read_text("utf-8").split()) for f in corpus.glob("*.txt")}
    assert set(listed) == set().union(*source.values())
    by_style = json.loads((tmp_path / "out" / meta.artefacts["names_by_style"]).read_text("utf-8"))
    assert {style: set(names) for style, names in by_style.items()} == source
    assert all(names == sorted(names) for names in by_style.values())
    assert ModelBundle.load(tmp_path / "out" / "names.json").names_by_style == {
        style: frozenset(names) for style, names in source.items()
    }


def test_poem_artefact_scores_copied_text_as_unoriginal(tmp_path: Path) -> None:
    corpus = write_poems(tmp_path / "corpus")
    config = tiny_config(tmp_path, corpus_kind="poems", corpus_path=str(corpus), epochs=1.0)
    meta = export(train(config), "poems", tmp_path / "out")
    hashes = np.load(tmp_path / "out" / meta.artefacts["ngram_hashes"])
    first_poem = corpus.read_text().split("++++\n")[1]
    assert originality(first_poem, hashes) == 0.0
    assert originality("purple elephants quietly juggle seven warm teapots", hashes) == 1.0


def test_export_of_a_missing_or_corrupt_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="not found"):
        export(tmp_path / "none.pt", "x", tmp_path)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ExportError, match=r"bad\.pt"):
        export(tmp_path / "bad.pt", "x", tmp_path)


def test_metadata_json_is_plain_readable_json(prose_checkpoint: Path, tmp_path: Path) -> None:
    export(prose_checkpoint, "tiny", tmp_path)
    data = json.loads((tmp_path / "tiny.json").read_text())
    assert data["format_version"] == 2
    assert data["vocab"][:3] == ["<unk>", "<bos>", "<eos>"]


# -- the parity gate -----------------------------------------------------------------------------


def test_parity_refuses_a_difference_well_under_5e_3(
    prose_checkpoint: Path, tmp_path: Path, monkeypatch
) -> None:
    """A tolerance 50x looser (5e-3) would let this model through."""
    model, _ = export_module.load_checkpoint(prose_checkpoint)

    def export_nudged(model: torch.nn.Module, path: Path) -> None:
        nudged, _ = export_module.load_checkpoint(prose_checkpoint)
        with torch.no_grad():
            nudged.head.bias.add_(1e-3)
        export_onnx(nudged, path)

    export_nudged(model, tmp_path / "nudged.onnx")
    assert 1e-4 < check_parity(model, tmp_path / "nudged.onnx") < 5e-3
    monkeypatch.setattr(export_module, "export_onnx", export_nudged)
    with pytest.raises(ExportError, match="disagree"):
        export(prose_checkpoint, "nudged", tmp_path / "out")
    assert not list((tmp_path / "out").iterdir())


class SwappedStateStep(StepModel):
    """A broken exporter: reads input h as c and writes c as h_out (and the reverse). Fed its
    own states back it predicts exactly right, so only the states themselves show the bug."""

    def forward(self, tokens: torch.Tensor, h: torch.Tensor, c: torch.Tensor):  # type: ignore[override]
        logits, (h_out, c_out) = self.model(tokens, (c, h))
        return logits[:, -1, :], c_out, h_out


def test_parity_compares_h_and_c_not_only_logits(
    prose_checkpoint: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(export_module, "StepModel", SwappedStateStep)
    model, _ = export_module.load_checkpoint(prose_checkpoint)
    export_onnx(model, tmp_path / "swapped.onnx")
    session = ort.InferenceSession(str(tmp_path / "swapped.onnx"))
    tokens = torch.randint(0, model.vocab_size, (2, 9))
    h, c = model.initial_state(2)
    state = {"h": h.numpy(), "c": c.numpy()}
    with torch.no_grad():  # the logits alone agree, call after call
        for step in (tokens[:, :5], tokens[:, 5:]):
            logits, (h, c) = model(step, (h, c))
            ort_logits, state["h"], state["c"] = session.run(
                None, {"tokens": step.numpy(), **state}
            )
            np.testing.assert_allclose(ort_logits, logits[:, -1].numpy(), atol=1e-5)
    assert check_parity(model, tmp_path / "swapped.onnx") > 1e-2
    with pytest.raises(ExportError, match="disagree"):
        export(prose_checkpoint, "swapped", tmp_path / "out")


# -- atomic export -------------------------------------------------------------------------------


def test_a_failed_export_leaves_the_previous_model_intact(
    prose_checkpoint: Path, tmp_path: Path, monkeypatch
) -> None:
    export(prose_checkpoint, "tiny", tmp_path)
    before = {p.name: file_sha256(p) for p in tmp_path.iterdir()}

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(export_module, "export_onnx", lambda m, p: p.write_bytes(b"new model"))
    monkeypatch.setattr(export_module, "check_parity", lambda model, path: 0.0)
    monkeypatch.setattr(export_module, "build_metadata", fail)  # after NAME.onnx and artefacts
    with pytest.raises(OSError, match="disk full"):
        export(prose_checkpoint, "tiny", tmp_path)
    assert {p.name: file_sha256(p) for p in tmp_path.iterdir()} == before  # no leftovers either
    ModelBundle.load(tmp_path / "tiny.json")


# -- int8 ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def int8_export(prose_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("int8")
    export(prose_checkpoint, "tiny", out, quantize="int8")
    return out / "tiny.json"


def test_int8_export_is_gated_on_heldout_loss_and_keeps_the_contract(int8_export: Path) -> None:
    meta = load_metadata(int8_export)
    entry = meta.quantized["int8"]
    assert entry.onnx_file == "tiny.int8.onnx"
    assert entry.onnx_sha256 == file_sha256(int8_export.parent / "tiny.int8.onnx")
    assert entry.gate_nats == 0.005
    assert abs(entry.heldout_loss_nats - entry.fp32_heldout_loss_nats) <= 0.005
    # the gate's fp32 figure is the one the trainer measured on the same split and rows
    assert entry.fp32_heldout_loss_nats == pytest.approx(
        meta.training.validation_loss_nats, abs=1e-3
    )
    fp32 = ModelBundle.load(int8_export)
    int8 = ModelBundle.load(int8_export, precision="int8")
    assert (fp32.precision, int8.precision) == ("fp32", "int8")
    assert int8.onnx_path.stat().st_size < fp32.onnx_path.stat().st_size / 2
    layers, hidden = meta.architecture.layers, meta.architecture.hidden_size
    rng = np.random.default_rng(0)
    for batch, steps in ((1, 1), (3, 7), (32, 1)):
        tokens = rng.integers(0, meta.vocab_size, (batch, steps))
        h = rng.uniform(-1, 1, (layers, batch, hidden)).astype(np.float32)
        c = rng.normal(0, 1, (layers, batch, hidden)).astype(np.float32)
        want = fp32.run(tokens, h, c)
        got = int8.run(tokens, h, c)
        for a, b in zip(got, want, strict=True):
            assert a.shape == b.shape and a.dtype == np.float32
            np.testing.assert_allclose(a, b, atol=0.1)  # close to fp32, not equal
        assert not np.array_equal(got[0], want[0])


def test_int8_rows_do_not_depend_on_their_batch_mates(int8_export: Path, tmp_path: Path) -> None:
    """What keeps a seed's text the same alone or batched. onnxruntime's quantize_dynamic
    fails it: its activation scales come from the whole batch."""
    from onnxruntime.quantization import quantize_dynamic

    int8 = ModelBundle.load(int8_export, precision="int8")
    meta = int8.meta
    quantize_dynamic(str(int8_export.parent / meta.onnx_file), str(tmp_path / "dyn.onnx"))
    dynamic = ModelBundle.open(meta, int8_export, tmp_path / "dyn.onnx", precision="int8")
    rng = np.random.default_rng(1)
    layers, hidden = meta.architecture.layers, meta.architecture.hidden_size
    tokens = rng.integers(0, meta.vocab_size, (8, 5))
    h = rng.uniform(-1, 1, (layers, 8, hidden)).astype(np.float32)
    c = rng.normal(0, 1, (layers, 8, hidden)).astype(np.float32)
    h[:, 3] *= 0.1  # one row with a much smaller range than its mates

    def alone_equals_batched(bundle: ModelBundle) -> bool:
        logits, h_out, c_out = bundle.run(tokens, h, c)
        for row in range(8):
            one = slice(row, row + 1)
            alone = bundle.run(tokens[one], h[:, one], c[:, one])
            if not all(
                np.array_equal(a, b)
                for a, b in zip(alone, (logits[one], h_out[:, one], c_out[:, one]), strict=True)
            ):
                return False
        return True

    assert alone_equals_batched(int8)
    assert not alone_equals_batched(dynamic)


def test_int8_gate_threshold_accepts_and_refuses(int8_export: Path, tmp_path: Path, capsys) -> None:
    """Re-quantizing in place measures the same figures; the gate is the only difference."""
    entry = load_metadata(int8_export).quantized["int8"]
    delta = entry.heldout_loss_nats - entry.fp32_heldout_loss_nats
    folder = tmp_path / "models"
    folder.mkdir()
    for path in int8_export.parent.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    json_path = folder / "tiny.json"

    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    kept, refusal = quantize_exported(json_path, gate_nats=delta - 2e-6)
    assert refusal and refusal in capsys.readouterr().err
    assert "int8 refused" in refusal and f"{entry.heldout_loss_nats:.5f}" in refusal
    assert f"{entry.fp32_heldout_loss_nats:.5f}" in refusal
    # a refusal changes nothing: the int8 copy that passed before is still served
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert kept == load_metadata(json_path) and kept.quantized["int8"] == entry
    assert ModelBundle.load(json_path, precision="int8").precision == "int8"

    accepted, refusal = quantize_exported(json_path, gate_nats=delta + 2e-6)
    assert refusal is None
    assert accepted.quantized["int8"].heldout_loss_nats == pytest.approx(
        entry.heldout_loss_nats, abs=2e-6
    )
    assert ModelBundle.load(json_path, precision="int8").precision == "int8"
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_cli_exit_status_says_whether_int8_was_refused(int8_export: Path, tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    for path in int8_export.parent.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    assert export_module.main([str(folder / "tiny.json"), "--quantize", "int8"]) == 0
    # a quantizer that throws away almost all precision: the gate must see the damage
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("training.quantize.WEIGHT_LEVELS", 1)
        assert export_module.main([str(folder / "tiny.json"), "--quantize", "int8"]) == 1
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # byte for byte
    assert "int8" in load_metadata(folder / "tiny.json").quantized


def test_format_1_metadata_still_loads_and_is_upgraded(int8_export: Path, tmp_path: Path) -> None:
    data = json.loads(int8_export.read_text())
    for key in ("quantized", "artefact_sha256"):
        data.pop(key)
    data["format_version"] = 1
    folder = tmp_path / "models"
    folder.mkdir()
    for path in int8_export.parent.iterdir():
        if path.suffix != ".json" and "int8" not in path.name:
            (folder / path.name).write_bytes(path.read_bytes())
    (folder / "tiny.json").write_text(json.dumps(data))
    old = ModelBundle.load(folder / "tiny.json", precision="int8")
    assert (old.meta.format_version, old.precision) == (1, "fp32")
    upgraded, refusal = quantize_exported(folder / "tiny.json")
    assert (upgraded.format_version, refusal) == (2, None)
    assert upgraded.artefact_sha256 == {"loss_curve": file_sha256(folder / "tiny.loss.png")}
    assert ModelBundle.load(folder / "tiny.json", precision="int8").precision == "int8"


def test_quantizing_a_model_that_is_not_a_step_model_fails_clearly(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    from training.quantize import QuantizeError, quantize_int8

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(graph), str(tmp_path / "other.onnx"))
    with pytest.raises(QuantizeError, match=r"other\.onnx: not an embedding -> LSTM -> linear"):
        quantize_int8(tmp_path / "other.onnx", tmp_path / "other.int8.onnx")
    assert not (tmp_path / "other.int8.onnx").exists()
