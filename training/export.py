"""Export a training checkpoint to the serving contract: NAME.onnx + NAME.json (+ artefacts).

    python -m training.export runs/lovecraft/best.safetensors --name lovecraft \\
        [--out exported_models] [--quantize int8]
    python -m training.export exported_models/lovecraft.json --quantize int8

The export fails unless torch and onnxruntime agree (max abs difference < 1e-4 in logits, h
and c) over random multi-step sequences at batch 1 and batch > 1 with the state carried
between calls. ``--quantize int8`` adds NAME.int8.onnx (training/quantize.py) if its held-out
loss, measured through onnxruntime as the bot serves it, is within 0.005 nats/token of fp32;
given an exported NAME.json it does so in place (and rewrites format 1 metadata as format 2);
a refusal there changes no file, and an int8 copy that passed before stays.

Everything is written to a temporary folder beside the output, then published with NAME.json
as the single switch (training/publish.py): files move in under names the current metadata
does not use, NAME.json is replaced in one rename, then the files nothing names are removed.
A failed export leaves the previous model as it was; a reader never sees a mix of the two.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bot.engine.bundle import ModelBundle, ModelLoadError, file_sha256
from bot.engine.contract import (
    FORMAT_VERSION,
    ONNX_INPUTS,
    ONNX_OUTPUTS,
    Architecture,
    CorpusInfo,
    MetadataError,
    ModelMetadata,
    QuantizedModel,
    SamplingDefaults,
    SpecialTokens,
    TrainingInfo,
    load_metadata,
)
from bot.engine.kinds import CorpusKind
from bot.engine.ngrams import ngram_hashes
from training.checkpoint import CheckpointError
from training.checkpoint import load as read_checkpoint
from training.data import batches_per_epoch, corpus_kind, encode_documents, load_training_split
from training.evaluate import EvaluationError, heldout_loss, load_training_corpus
from training.models import LSTMLanguageModel, StepModel, build_model
from training.parity import PARITY_TOLERANCE, check_parity, within_tolerance
from training.publish import PublishError, publish
from training.quantize import QuantizeError, quantize_int8

GATE_NATS = 0.005  # the int8 model may lose at most this much held-out loss per token
OPSET = 17
SAMPLING_DEFAULTS = {
    CorpusKind.PROSE: SamplingDefaults(temperature=0.7, top_k=0, top_p=0.95, max_tokens=1200),
    CorpusKind.POEMS: SamplingDefaults(temperature=0.8, top_k=0, top_p=0.95, max_tokens=1500),
    CorpusKind.NAMES: SamplingDefaults(temperature=0.9, top_k=0, top_p=1.0, max_tokens=24),
    CorpusKind.WORDS: SamplingDefaults(temperature=0.8, top_k=40, top_p=0.95, max_tokens=300),
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
        corpus_kind(config["corpus_kind"]).level,
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


def write_artefacts(name: str, checkpoint: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """Side files the generators need: training names (novelty), the names of each style
    (plausible openings) and poem 4-gram hashes."""
    config = checkpoint["config"]
    kind = corpus_kind(config["corpus_kind"])
    artefacts: dict[str, str] = {}
    run_dir = Path(config["out_dir"]) / config["name"]
    for source, suffix, key in ((run_dir / "loss.png", "loss.png", "loss_curve"),):
        if source.exists():
            shutil.copyfile(source, out_dir / f"{name}.{suffix}")
            artefacts[key] = f"{name}.{suffix}"
    if kind not in (CorpusKind.NAMES, CorpusKind.POEMS):
        return artefacts
    corpus = load_training_split(config)
    if corpus.sha256 != checkpoint["corpus"]["sha256"]:
        raise ExportError(f"{config['corpus_path']}: corpus changed since training (sha256)")
    documents = corpus.train + corpus.validation + corpus.tail
    if kind == CorpusKind.NAMES:
        names = sorted({doc.text for doc in documents})
        (out_dir / f"{name}.names.txt").write_text("\n".join(names) + "\n", "utf-8")
        artefacts["training_names"] = f"{name}.names.txt"
        by_style: dict[str, set[str]] = {}
        for doc in documents:
            by_style.setdefault(str(doc.style), set()).add(doc.text)
        listed = {style: sorted(texts) for style, texts in sorted(by_style.items())}
        text = json.dumps(listed, ensure_ascii=False, indent=0) + "\n"
        (out_dir / f"{name}.names_by_style.json").write_text(text, "utf-8")
        artefacts["names_by_style"] = f"{name}.names_by_style.json"
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
    kind = corpus["kind"] = corpus_kind(corpus["kind"])
    loss = progress["best_validation"]
    steps_per_epoch = max(
        1, batches_per_epoch(corpus["train_tokens"], config["batch_size"], config["seq_len"])
    )
    return ModelMetadata(
        format_version=FORMAT_VERSION,
        name=name,
        level=kind.level,
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
        sampling=SAMPLING_DEFAULTS[kind],
        onnx_file=onnx_path.name,
        onnx_sha256=file_sha256(onnx_path),
        artefacts=artefacts,
        artefact_sha256=artefact_hashes(onnx_path.parent, artefacts),
    )


def artefact_hashes(folder: Path, artefacts: dict[str, str]) -> dict[str, str]:
    return {key: file_sha256(folder / name) for key, name in artefacts.items()}


@contextmanager
def staging(out_dir: Path, name: str) -> Iterator[Path]:
    """A temporary folder beside the output, removed afterwards whatever happens."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=f".{name}.export-") as stage:
        yield Path(stage)


def measure_heldout(bundle: ModelBundle) -> tuple[float, int]:
    """(nats/token, tokens) on the held-out split, as training/evaluate.py measures it."""
    try:
        corpus = load_training_corpus(bundle)
    except EvaluationError as exc:
        raise ExportError(f"the int8 gate needs the training corpus: {exc}") from None
    stream = encode_documents(corpus.validation, bundle.meta.vocab, bundle.meta.special_tokens)
    rows = int(bundle.meta.training.config.get("eval_batch_size", 8))
    return heldout_loss(bundle, stream, rows, progress=False), int(stream.size)


def add_int8(
    meta: ModelMetadata, fp32_dir: Path, stage: Path, *, gate_nats: float = GATE_NATS
) -> tuple[ModelMetadata, str | None]:
    """Quantize ``fp32_dir/NAME.onnx`` to ``stage/NAME.int8.onnx`` and apply the quality gate.

    Returns the metadata with the int8 entry, or unchanged with the refusal (the int8 file is
    then removed). Both files are measured by the same held-out loss, served the same way.
    """
    fp32 = ModelBundle.open(meta, fp32_dir / f"{meta.name}.json", fp32_dir / meta.onnx_file)
    int8_path = stage / f"{meta.name}.int8.onnx"
    try:
        quantize_int8(fp32.onnx_path, int8_path)
        int8 = ModelBundle.open(meta, fp32.json_path, int8_path, precision="int8")
    except (QuantizeError, ModelLoadError) as exc:
        raise ExportError(f"int8 quantization failed: {exc}") from None
    fp32_loss, tokens = measure_heldout(fp32)
    int8_loss, _ = measure_heldout(int8)
    figures = (
        f"held-out {int8_loss:.5f} nats/token against fp32 {fp32_loss:.5f} "
        f"({int8_loss - fp32_loss:+.5f}, the gate allows +{gate_nats:g}; {tokens} tokens)"
    )
    if not int8_loss - fp32_loss <= gate_nats:
        int8_path.unlink()
        return meta, f"int8 refused: {figures}"
    entry = QuantizedModel(
        onnx_file=int8_path.name,
        onnx_sha256=file_sha256(int8_path),
        heldout_loss_nats=round(int8_loss, 6),
        fp32_heldout_loss_nats=round(fp32_loss, 6),
        heldout_tokens=tokens,
        gate_nats=gate_nats,
    )
    print(f"int8 accepted: {figures}")
    return dataclasses.replace(meta, quantized={**meta.quantized, "int8": entry}), None


def export(
    checkpoint_path: Path,
    name: str,
    out_dir: Path,
    *,
    quantize: str | None = None,
    gate_nats: float = GATE_NATS,
) -> ModelMetadata:
    """Write NAME.onnx, NAME.json and artefacts (and NAME.int8.onnx if asked for and accepted)
    to ``out_dir``; raises ExportError on mismatch, leaving ``out_dir`` as it was."""
    model, checkpoint = load_checkpoint(checkpoint_path)
    with staging(out_dir, name) as stage:
        onnx_path = stage / f"{name}.onnx"
        export_onnx(model, onnx_path)
        difference = check_parity(model, onnx_path)
        if not within_tolerance(difference):
            raise ExportError(
                f"{checkpoint_path}: torch and onnxruntime disagree by {difference:.2e} "
                f"(tolerance {PARITY_TOLERANCE:.0e}); nothing was written"
            )
        artefacts = write_artefacts(name, checkpoint, stage)
        metadata = build_metadata(name, model, checkpoint, onnx_path, artefacts)
        refusal = None
        if quantize == "int8":
            metadata, refusal = add_int8(metadata, stage, stage, gate_nats=gate_nats)
        metadata = publish(stage, out_dir, metadata)
    onnx_path = out_dir / metadata.onnx_file
    print(
        f"exported {name}: {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB), parity "
        f"{difference:.1e}, held-out {metadata.training.validation_loss_nats:.4f} nats/token"
    )
    if refusal:
        print(refusal, file=sys.stderr)
    return metadata


def quantize_exported(
    json_path: Path, *, quantize: str = "int8", gate_nats: float = GATE_NATS
) -> tuple[ModelMetadata, str | None]:
    """Add an int8 copy to an exported model in place (format 1 metadata becomes format 2).

    Returns the metadata now in ``json_path`` and the refusal, if the gate refused: then
    nothing is written, and an int8 copy that passed before stays.
    """
    try:
        ModelBundle.load(json_path)  # hashes and graph checked before anything is trusted
        current = load_metadata(json_path)
    except (ModelLoadError, MetadataError) as exc:
        raise ExportError(str(exc)) from None
    folder = json_path.parent
    meta = dataclasses.replace(
        current,
        format_version=FORMAT_VERSION,
        artefact_sha256=artefact_hashes(folder, current.artefacts),
        quantized={},
    )
    with staging(folder, meta.name) as stage:
        meta, refusal = add_int8(meta, folder, stage, gate_nats=gate_nats)
        if refusal:
            print(refusal, file=sys.stderr)
            return current, refusal
        return publish(stage, folder, meta), None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.export", description=__doc__)
    parser.add_argument("source", type=Path, help="a checkpoint, or an exported NAME.json")
    parser.add_argument("--name", help="model name (file stem in the out folder)")
    parser.add_argument("--out", type=Path, default=Path("exported_models"))
    parser.add_argument("--quantize", choices=["int8"], help="add an int8 copy (quality-gated)")
    args = parser.parse_args(argv)
    from_json = args.source.suffix == ".json"
    if from_json and not args.quantize:
        parser.error("an exported NAME.json needs --quantize (there is nothing else to do)")
    if not from_json and not args.name:
        parser.error("--name is required when exporting a checkpoint")
    try:
        if from_json:
            meta, refusal = quantize_exported(args.source, quantize=args.quantize)
        else:
            meta = export(args.source, args.name, args.out, quantize=args.quantize)
            refusal = "refused" if args.quantize and args.quantize not in meta.quantized else None
    except (ExportError, PublishError) as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    return 1 if refusal else 0


if __name__ == "__main__":
    sys.exit(main())
