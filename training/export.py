"""Export a training checkpoint to the serving contract: NAME.onnx + NAME.json (+ artefacts).

    python -m training.export runs/lovecraft/best.safetensors --name lovecraft \\
        [--out exported_models]

The export fails unless torch and onnxruntime agree (max abs logit difference < 1e-4) over
random multi-step sequences at batch 1 and batch > 1 with the state carried between calls.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import shutil
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from bot.engine.contract import (
    FORMAT_VERSION,
    ONNX_INPUTS,
    ONNX_OUTPUTS,
    Architecture,
    CorpusInfo,
    ModelMetadata,
    SamplingDefaults,
    SpecialTokens,
    TrainingInfo,
    load_metadata,
)
from bot.engine.ngrams import ngram_hashes
from training.checkpoint import CheckpointError
from training.checkpoint import load as read_checkpoint
from training.data import batches_per_epoch, level_of, load_corpus
from training.models import LSTMLanguageModel, StepModel, build_model

PARITY_TOLERANCE = 1e-4
OPSET = 17
SAMPLING_DEFAULTS = {
    "prose": SamplingDefaults(temperature=0.7, top_k=0, top_p=0.95, max_tokens=1200),
    "poems": SamplingDefaults(temperature=0.8, top_k=0, top_p=0.95, max_tokens=1500),
    "names": SamplingDefaults(temperature=0.9, top_k=0, top_p=1.0, max_tokens=24),
    "words": SamplingDefaults(temperature=0.8, top_k=40, top_p=0.95, max_tokens=300),
}


class ExportError(RuntimeError):
    """The exported model does not match the trained one, or the checkpoint is unusable."""


def load_checkpoint(path: Path) -> tuple[LSTMLanguageModel, dict[str, Any]]:
    try:
        checkpoint = read_checkpoint(path).as_dict()
    except CheckpointError as exc:
        raise ExportError(str(exc)) from None
    config = checkpoint["config"]
    model = build_model(
        level_of(config["corpus_kind"]),
        vocab_size=len(checkpoint["vocab"]),
        embedding_size=config["embedding_size"],
        hidden_size=config["hidden_size"],
        layers=config["layers"],
        dropout=config["dropout"],
    )
    model.load_state_dict(checkpoint["model"])
    return model.eval(), checkpoint


def export_onnx(model: LSTMLanguageModel, path: Path) -> None:
    step = StepModel(model).eval()
    tokens = torch.zeros((2, 3), dtype=torch.int64)
    h, c = model.initial_state(2)
    axes = {
        "tokens": {0: "batch", 1: "steps"},
        "h": {1: "batch"},
        "c": {1: "batch"},
        "logits": {0: "batch"},
        "h_out": {1: "batch"},
        "c_out": {1: "batch"},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            step,
            (tokens, h, c),
            str(path),
            input_names=list(ONNX_INPUTS),
            output_names=list(ONNX_OUTPUTS),
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def check_parity(model: LSTMLanguageModel, onnx_path: Path, *, seed: int = 0) -> float:
    """Max abs logit difference between torch and ORT over carried multi-step runs."""
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    with torch.no_grad():
        for batch in (1, 4):
            h, c = model.initial_state(batch)
            h_np, c_np = h.numpy(), c.numpy()
            for steps in (7, 1, 1, 13, 1):
                tokens = torch.randint(0, model.vocab_size, (batch, steps), generator=generator)
                logits, (h, c) = model(tokens, (h, c))
                ort_logits, h_np, c_np = session.run(
                    None, {"tokens": tokens.numpy(), "h": h_np, "c": c_np}
                )
                worst = max(
                    worst,
                    float(np.abs(ort_logits - logits[:, -1].numpy()).max()),
                    float(np.abs(h_np - h.numpy()).max()),
                    float(np.abs(c_np - c.numpy()).max()),
                )
    return worst


def write_artefacts(name: str, checkpoint: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """Side files the generators need: training names (novelty) and poem 4-gram hashes."""
    config = checkpoint["config"]
    kind = config["corpus_kind"]
    artefacts: dict[str, str] = {}
    run_dir = Path(config["out_dir"]) / config["name"]
    for source, suffix, key in ((run_dir / "loss.png", "loss.png", "loss_curve"),):
        if source.exists():
            shutil.copyfile(source, out_dir / f"{name}.{suffix}")
            artefacts[key] = f"{name}.{suffix}"
    if kind not in ("names", "poems"):
        return artefacts
    corpus = load_corpus(
        kind,
        config["corpus_path"],
        pattern=config["corpus_pattern"],
        validation_fraction=config["validation_fraction"],
        seed=config["split_seed"],
    )
    if corpus.sha256 != checkpoint["corpus"]["sha256"]:
        raise ExportError(f"{config['corpus_path']}: corpus changed since training (sha256)")
    documents = corpus.train + corpus.validation
    if kind == "names":
        names = sorted({doc.text for doc in documents})
        (out_dir / f"{name}.names.txt").write_text("\n".join(names) + "\n", "utf-8")
        artefacts["training_names"] = f"{name}.names.txt"
    else:
        hashes = np.unique(np.concatenate([ngram_hashes(doc.text) for doc in documents]))
        np.save(out_dir / f"{name}.4grams.npy", hashes.astype(np.uint64))
        artefacts["ngram_hashes"] = f"{name}.4grams.npy"
    return artefacts


def build_metadata(
    name: str,
    model: LSTMLanguageModel,
    checkpoint: dict[str, Any],
    onnx_path: Path,
    artefacts: dict[str, str],
) -> ModelMetadata:
    config = checkpoint["config"]
    progress = checkpoint["progress"]
    corpus = {k: v for k, v in checkpoint["corpus"].items() if k != "dropped"}
    loss = progress["best_validation"]
    steps_per_epoch = max(
        1, batches_per_epoch(corpus["train_tokens"], config["batch_size"], config["seq_len"])
    )
    return ModelMetadata(
        format_version=FORMAT_VERSION,
        name=name,
        level=level_of(config["corpus_kind"]),
        vocab=list(checkpoint["vocab"]),
        special_tokens=SpecialTokens(**checkpoint["special_tokens"]),
        architecture=Architecture(
            layers=config["layers"],
            hidden_size=config["hidden_size"],
            embedding_size=config["embedding_size"],
            dropout=config["dropout"],
            parameters=model.parameter_count(),
        ),
        corpus=CorpusInfo(**corpus),
        training=TrainingInfo(
            validation_loss_nats=round(loss, 5),
            validation_bits_per_token=round(loss / math.log(2), 5),
            epochs=round(progress["step"] / steps_per_epoch, 3),
            steps=progress["step"],
            tokens_seen=progress["tokens_seen"],
            wall_time_s=round(progress["wall_time_s"], 1),
            device=checkpoint["device"],
            torch_version=checkpoint["torch_version"],
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
            config=config,
        ),
        sampling=SAMPLING_DEFAULTS[config["corpus_kind"]],
        onnx_file=onnx_path.name,
        onnx_sha256=hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        artefacts=artefacts,
    )


def export(checkpoint_path: Path, name: str, out_dir: Path) -> ModelMetadata:
    """Write NAME.onnx, NAME.json and artefacts to ``out_dir``; raises ExportError on mismatch."""
    model, checkpoint = load_checkpoint(checkpoint_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"{name}.onnx"
    tmp_path = out_dir / f".{name}.onnx.tmp"
    export_onnx(model, tmp_path)
    difference = check_parity(model, tmp_path)
    if not difference < PARITY_TOLERANCE:
        tmp_path.unlink()
        raise ExportError(
            f"{checkpoint_path}: torch and onnxruntime disagree by {difference:.2e} "
            f"(tolerance {PARITY_TOLERANCE:.0e}); nothing was written"
        )
    tmp_path.replace(onnx_path)
    artefacts = write_artefacts(name, checkpoint, out_dir)
    metadata = build_metadata(name, model, checkpoint, onnx_path, artefacts)
    json_path = out_dir / f"{name}.json"
    metadata.write(json_path)
    load_metadata(json_path)  # what we wrote must pass the bot's own validation
    print(
        f"exported {name}: {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB), parity "
        f"{difference:.1e}, held-out {metadata.training.validation_loss_nats:.4f} nats/token"
    )
    return metadata


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.export", description=__doc__)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--name", required=True, help="model name (file stem in the out folder)")
    parser.add_argument("--out", type=Path, default=Path("exported_models"))
    args = parser.parse_args(argv)
    try:
        export(args.checkpoint, args.name, args.out)
    except ExportError as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
