"""Random-weight step models: a model of any shape, exported as training/export.py exports
a trained one, without training it.

The candidates' speed gate (``training.candidates --speed-only``) and ``bench/engine.py`` time
them (a step costs the same whatever the weights), and tests use them where they need an
architecture of their own (e.g. a vocabulary-size mismatch); the tests' ``tiny_models_dir``
fixture provides trained tiny models.
"""

from __future__ import annotations

import dataclasses
import string
from pathlib import Path

import numpy as np
import torch

from bot.engine.bundle import file_sha256
from bot.engine.contract import (
    FORMAT_VERSION,
    Architecture,
    CorpusInfo,
    ModelMetadata,
    QuantizedModel,
    SamplingDefaults,
    SpecialTokens,
    TrainingInfo,
)
from bot.engine.kinds import CorpusKind, Level
from bot.engine.ngrams import ngram_hashes
from training.export import artefact_hashes, export_onnx
from training.models import LSTMLanguageModel
from training.quantize import quantize_int8

CHARS = list(string.ascii_letters + string.digits + " .,;:!?'\"-\n")
WORDS = [
    "the",
    "a",
    "fox",
    "crow",
    "lion",
    "said",
    "and",
    "was",
    "to",
    "of",
    "it",
    "he",
    "she",
    ".",
    ",",
    "!",
    "?",
    '"',
    "wolf",
    "sheep",
    "grapes",
]


def export_random_model(
    directory: Path,
    name: str,
    *,
    level: str = "char",
    styles: tuple[str, ...] = (),
    layers: int = 1,
    hidden: int = 32,
    emb: int = 16,
    extra_vocab: int = 0,
    seed: int = 0,
    scale: float = 3.0,
    artefacts: dict[str, str] | None = None,
    ban_eos: bool = False,
    embedding_rows: int | None = None,
    unembedded_bias: float = -50.0,
    int8: bool = False,
) -> Path:
    """Export a random LSTM + metadata to ``directory/name.{onnx,json}``; returns the json path.

    ``extra_vocab`` adds output rows the metadata does not list (a mismatched model).
    ``scale`` multiplies the head weights so that sampling is not almost uniform.
    ``ban_eos`` makes the end token (nearly) impossible, for long generations.
    ``embedding_rows`` < vocab size (negative: counted from the end) gives a model that fails
    on some inputs only: onnxruntime's Gather raises for any id from ``embedding_rows`` up, in a
    prompt or fed back after being sampled; ``unembedded_bias`` is added to those ids' logits
    (-50: never sampled).
    ``int8`` adds an int8 copy (training/quantize.py) without the export's held-out gate:
    a random model has no corpus.
    """
    special = SpecialTokens("<unk>", "<bos>", "<eos>", styles={s: f"<{s}>" for s in styles})
    if level == "word":
        special = SpecialTokens("<unk>", "<bos>", "<eos>", newline="<nl>")
    vocab = [*special.all(), *(WORDS if level == "word" else CHARS)]
    torch.manual_seed(seed)
    model = LSTMLanguageModel(len(vocab) + extra_vocab, emb, hidden, layers, dropout=0.0).eval()
    if embedding_rows is not None:
        embedding_rows %= len(vocab)  # -1: all ids but the last
        model.embedding = torch.nn.Embedding(embedding_rows, emb)
    with torch.no_grad():
        model.head.weight.mul_(scale)
        if ban_eos:
            model.head.bias[vocab.index(special.eos)] = -50.0
        if embedding_rows is not None:
            model.head.bias[embedding_rows:] += unembedded_bias
    onnx_path = directory / f"{name}.onnx"
    export_onnx(model, onnx_path)
    meta = ModelMetadata(
        format_version=FORMAT_VERSION,
        name=name,
        level=Level(level),
        vocab=vocab,
        special_tokens=special,
        architecture=Architecture(layers, hidden, emb, 0.0, model.parameter_count()),
        corpus=CorpusInfo(name, CorpusKind.PROSE, ["x.txt"], 100, "0" * 64, 10, 9, 1, 1000, 100),
        training=TrainingInfo(1.5, 1.5 / np.log(2), 1.0, 10, 1000, 2.0, "cpu", "x", "2024-01-01"),
        sampling=SamplingDefaults(),
        onnx_file=onnx_path.name,
        onnx_sha256=file_sha256(onnx_path),
        artefacts=artefacts or {},
        artefact_sha256=artefact_hashes(directory, artefacts or {}),
    )
    if int8:
        int8_path = directory / f"{name}.int8.onnx"
        quantize_int8(onnx_path, int8_path)
        entry = QuantizedModel(int8_path.name, file_sha256(int8_path), 1.5, 1.5, 0, 0.005)
        meta = dataclasses.replace(meta, quantized={"int8": entry})
    json_path = directory / f"{name}.json"
    meta.write(json_path)
    return json_path


def write_ngram_artefact(path: Path, texts: list[str]) -> None:
    """The word 4-gram artefact of a poems model (``artefacts={"ngram_hashes": ...}``)."""
    hashes = [ngram_hashes(t) for t in texts]
    np.save(path, np.unique(np.concatenate(hashes)) if hashes else np.zeros(0, np.uint64))
