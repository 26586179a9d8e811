"""Fine-tuning from a shipped model: weights read back from ONNX, the vocabulary grows."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from bot.engine.bundle import ModelBundle
from tests.helpers import last, tiny_config
from tests.tiny_corpora import write_fables, write_prose
from training import checkpoint as ckpt
from training.config import ConfigError
from training.export import export
from training.finetune import load_shipped
from training.train import train

NEW_CHARS = "ÅÆØ"  # in the corpus vocabulary's (sorted) order


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny prose model, trained and exported as the shipped ones are."""
    root = tmp_path_factory.mktemp("shipped")
    config = tiny_config(root, epochs=1.0, lr=1e-2)
    export(train(config), "tiny", root / "models")
    return root / "models" / "tiny.json"


def test_weights_read_from_onnx_are_the_trained_weights(shipped: Path) -> None:
    trained = last(shipped.parent.parent / "runs" / "tiny").model
    weights = load_shipped(shipped).weights
    assert weights.keys() == trained.keys()
    for key, tensor in trained.items():
        torch.testing.assert_close(weights[key], tensor, rtol=0, atol=1e-7)


def test_init_from_grows_the_vocabulary_and_starts_from_the_shipped_weights(
    shipped: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meta = load_shipped(shipped).meta
    corpus = write_prose(tmp_path / "corpus")
    known = "".join(ch for ch in "the old house stood dark and silent " if ch in meta.vocab)
    (corpus / "nordic.txt").write_text(f"{known}Æ{known}Ø{known}Å\n" * 30)
    common = {"corpus_path": str(corpus), "max_steps": 1, "eval_every": 1, "hidden_size": 48}
    scratch = tiny_config(tmp_path / "scratch", **common)
    train(scratch)
    tuned = tiny_config(tmp_path / "tuned", init_from=str(shipped), **common)
    train(tuned)

    out = capsys.readouterr().out
    assert (
        f"vocabulary {meta.vocab_size} -> {meta.vocab_size + 3}, 3 new tokens: 'Å', 'Æ', 'Ø'" in out
    )
    saved = last(tuned.run_dir)
    assert saved.vocab == [*meta.vocab, *NEW_CHARS]  # shipped ids unchanged, new ones appended
    assert saved.init_report["new_tokens"] == list(NEW_CHARS)
    assert saved.config["hidden_size"] == meta.architecture.hidden_size  # the shipped size wins
    started = saved.progress.history[0]["validation_loss"]
    assert started < last(scratch.run_dir).progress.history[0]["validation_loss"] - 0.5

    exported = export(tuned.run_dir / "best.safetensors", "tuned", tmp_path / "models")
    bundle = ModelBundle.load(tmp_path / "models" / "tuned.json")
    assert exported.vocab_size == meta.vocab_size + 3
    assert bundle.tokenizer.encode("Øl").unknown == []


def test_init_from_refuses_a_model_of_another_level(shipped: Path, tmp_path: Path) -> None:
    config = tiny_config(
        tmp_path,
        corpus_kind="words",
        corpus_path=str(write_fables(tmp_path)),
        init_from=str(shipped),
    )
    with pytest.raises(ConfigError, match="char-level model; corpus_kind 'words' needs a word"):
        train(config)


def test_checkpoints_are_safetensors_with_json_state(shipped: Path, tmp_path: Path) -> None:
    path = shipped.parent.parent / "runs" / "tiny" / "last.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        assert "model.embedding.weight" in handle.keys()  # noqa: SIM118
        assert '"vocab"' in handle.metadata()["state"]
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ckpt.CheckpointError, match=r"broken\.safetensors"):
        ckpt.load(broken)
