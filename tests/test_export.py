"""Export: the ONNX step model matches torch, artefacts and metadata are complete."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

import training.export as export_module
from bot.engine.contract import load_metadata
from bot.engine.ngrams import originality
from tests.test_training import tiny_config
from tests.tiny_corpora import write_names, write_poems
from training.export import ExportError, check_parity, export, export_onnx
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


def test_names_artefact_lists_every_training_name(tmp_path: Path) -> None:
    corpus = write_names(tmp_path / "corpus")
    config = tiny_config(tmp_path, corpus_kind="names", corpus_path=str(corpus), epochs=2.0)
    meta = export(train(config), "names", tmp_path / "out")
    assert set(meta.special_tokens.styles) == {"english", "jinyong", "gulong"}
    listed = (tmp_path / "out" / meta.artefacts["training_names"]).read_text("utf-8").split()
    source = {n for f in corpus.glob("*.txt") for n in f.read_text("utf-8").split()}
    assert set(listed) == source


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
    assert data["format_version"] == 1
    assert data["vocab"][:3] == ["<unk>", "<bos>", "<eos>"]
