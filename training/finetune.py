"""Start training from a shipped model (``--init-from exported_models/NAME.json``).

Weights come from ``NAME.safetensors`` beside the JSON when there is one, else from the
float initializers of the ONNX file: the exporter's LSTM layout (gates i, o, f, c; input and
recurrent biases concatenated; the head as a transposed MatMul) is mapped back to
``nn.LSTM``'s (gates i, f, g, o), and the result is checked against onnxruntime.

Vocabulary rule: the shipped vocabulary keeps its ids; tokens of the new corpus that it
lacks (characters, words, style tokens) are appended, growing the embedding and output rows.
New embedding rows start at the mean of the shipped rows; new output rows start with zero
weights and the lowest shipped bias, so the model first predicts them as rarely as its
rarest token. The trainer prints the new tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from safetensors.torch import load_file

from bot.engine.contract import MetadataError, ModelMetadata, SpecialTokens, load_metadata
from training.models import LSTMLanguageModel, build_model
from training.parity import check_parity, within_tolerance


class InitError(RuntimeError):
    """The shipped model cannot be used to start training; the message names the file."""


@dataclass
class Shipped:
    meta: ModelMetadata
    weights: dict[str, torch.Tensor]
    source: Path  # the file the weights were read from


@dataclass
class Vocabulary:
    tokens: list[str]
    special: SpecialTokens
    new: list[str] = field(default_factory=list)  # appended after the shipped tokens


def _onnx_gates_to_torch(w: np.ndarray) -> torch.Tensor:
    """ONNX packs LSTM gates as i, o, f, c; nn.LSTM as i, f, g(=c), o."""
    i, o, f, c = np.split(w, 4, axis=0)
    return torch.from_numpy(np.concatenate([i, f, c, o], axis=0).copy())


def onnx_weights(onnx_path: Path) -> dict[str, torch.Tensor]:
    """The ``LSTMLanguageModel`` state dict stored in an exported ONNX graph."""
    graph = onnx.load(str(onnx_path)).graph
    init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    weights: dict[str, torch.Tensor] = {}
    lstms = [node for node in graph.node if node.op_type == "LSTM"]
    matmuls = [node for node in graph.node if node.op_type == "MatMul"]
    if not lstms or len(matmuls) != 1:
        raise InitError(f"{onnx_path}: not the exporter's float LSTM graph")
    try:
        weights["embedding.weight"] = torch.from_numpy(init["model.embedding.weight"].copy())
        for layer, node in enumerate(lstms):
            w, r, b = (init[name][0] for name in node.input[1:4])
            weights[f"lstm.weight_ih_l{layer}"] = _onnx_gates_to_torch(w)
            weights[f"lstm.weight_hh_l{layer}"] = _onnx_gates_to_torch(r)
            bias_ih, bias_hh = np.split(b, 2)
            weights[f"lstm.bias_ih_l{layer}"] = _onnx_gates_to_torch(bias_ih)
            weights[f"lstm.bias_hh_l{layer}"] = _onnx_gates_to_torch(bias_hh)
        weights["head.weight"] = torch.from_numpy(init[matmuls[0].input[1]].T.copy())
        weights["head.bias"] = torch.from_numpy(init["model.head.bias"].copy())
    except KeyError as exc:
        raise InitError(f"{onnx_path}: no float initializer {exc} (a quantized model?)") from None
    return weights


def model_for(meta: ModelMetadata, vocab_size: int, dropout: float) -> LSTMLanguageModel:
    arch = meta.architecture
    return build_model(
        meta.level,
        vocab_size=vocab_size,
        embedding_size=arch.embedding_size,
        hidden_size=arch.hidden_size,
        layers=arch.layers,
        dropout=dropout,
    )


def load_shipped(json_path: Path) -> Shipped:
    """The shipped model's metadata and float weights (safetensors beside it, else ONNX)."""
    try:
        meta = load_metadata(json_path)
    except (MetadataError, OSError) as exc:
        raise InitError(f"{json_path}: cannot read the model metadata: {exc}") from None
    beside = json_path.with_suffix(".safetensors")
    if beside.exists():
        return Shipped(meta, load_file(str(beside)), beside)
    onnx_path = json_path.parent / meta.onnx_file
    weights = onnx_weights(onnx_path)
    model = model_for(meta, meta.vocab_size, 0.0)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise InitError(f"{onnx_path}: weights do not fit {json_path.name}: {exc}") from None
    difference = check_parity(model.eval(), onnx_path)
    if not within_tolerance(difference):
        raise InitError(f"{onnx_path}: imported weights differ from ONNX by {difference:.1e}")
    return Shipped(meta, weights, onnx_path)


def merge_vocabulary(
    shipped: list[str], shipped_special: SpecialTokens, corpus: list[str], special: SpecialTokens
) -> Vocabulary:
    """Shipped tokens keep their ids; the corpus's missing tokens are appended in its order."""
    if (shipped_special.unknown, shipped_special.bos, shipped_special.eos) != (
        special.unknown,
        special.bos,
        special.eos,
    ) or shipped_special.newline != special.newline:
        raise InitError("the shipped model's special tokens differ from this corpus kind's")
    known = set(shipped)
    new = [token for token in corpus if token not in known]
    styles = {**shipped_special.styles, **special.styles}
    merged = SpecialTokens(special.unknown, special.bos, special.eos, special.newline, styles)
    return Vocabulary([*shipped, *new], merged, new)


def grow_rows(weights: dict[str, torch.Tensor], vocab_size: int) -> dict[str, torch.Tensor]:
    """Embedding and output rows for appended tokens (see the module docstring)."""
    grown = dict(weights)
    old = weights["embedding.weight"].shape[0]
    extra = vocab_size - old
    if extra <= 0:
        return grown
    embedding = weights["embedding.weight"]
    grown["embedding.weight"] = torch.cat([embedding, embedding.mean(0).expand(extra, -1)])
    head = weights["head.weight"]
    grown["head.weight"] = torch.cat([head, head.new_zeros(extra, head.shape[1])])
    bias = weights["head.bias"]
    grown["head.bias"] = torch.cat([bias, bias.min().expand(extra)])
    return grown
