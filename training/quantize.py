"""int8 step models whose output for one sequence never depends on its batch-mates.

onnxruntime's ``quantize_dynamic`` (``DynamicQuantizeLSTM`` + ``MatMulInteger``) picks each
activation's int8 scale from the min and max of the whole tensor, that is of every row of the
batch: measured on the shipped lovecraft model, one sequence's logits moved by up to 0.07
between running alone and running beside 31 others. The bot promises that a seed gives the
same text alone or batched, so the int8 model is built here instead, from the fp32 ONNX file:

- every activation that meets an int8 weight has a range known before any input is seen:
  LSTM hidden states lie in [-1, 1] (``h = o * tanh(c)``), the embedding is a constant table;
  so each is quantized with one fixed scale, element by element, and rows stay independent;
- weights are int8 per output channel in [-63, 63] (7 bits, so that the u8 x s8 products of
  AVX2 without VNNI cannot saturate 16-bit sums: integer results are then exact on every CPU);
- products use onnxruntime's ``MatMulIntegerToFloat`` (com.microsoft: scales and bias fused;
  the bot serves with onnxruntime only); the gate math stays float32;
- the time loop is an ONNX ``Scan`` per layer, so the file keeps the step-model contract
  (tokens, h, c) -> (logits, h_out, c_out) with dynamic batch and steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bot.engine.contract import ONNX_INPUTS, ONNX_OUTPUTS

WEIGHT_LEVELS = 63  # symmetric int8 weights in [-63, 63]
STATE_ZERO = 128  # activations: uint8 in [1, 255] around 128
OPSET = 17


class QuantizeError(RuntimeError):
    """The fp32 ONNX file is not a step model this module knows how to read."""


@dataclass(frozen=True)
class LayerWeights:
    """One LSTM layer in ONNX gate order (i, o, f, c): W [4H, in], R [4H, H], bias [4H]."""

    w: np.ndarray
    r: np.ndarray
    bias: np.ndarray


@dataclass(frozen=True)
class StepWeights:
    embedding: np.ndarray  # [V, E]
    layers: list[LayerWeights]
    head_w: np.ndarray  # [H, V]
    head_b: np.ndarray  # [V]

    @property
    def hidden(self) -> int:
        return self.layers[0].r.shape[1]


def read_step_weights(path: Path) -> StepWeights:
    """The weights of an fp32 step model written by training/export.py."""
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    embedding: np.ndarray | None = None
    layers: list[LayerWeights] = []
    head_w: np.ndarray | None = None
    head_b: np.ndarray | None = None
    for node in model.graph.node:
        if node.op_type == "Gather" and "tokens" in node.input and node.input[0] in inits:
            embedding = inits[node.input[0]]
        elif node.op_type == "LSTM":
            w, r, b = (inits.get(name) for name in node.input[1:4])
            if w is None or r is None or b is None or w.shape[0] != 1:
                raise QuantizeError(f"{path}: LSTM {node.name} is not a one-direction layer")
            hidden = r.shape[2]
            layers.append(LayerWeights(w[0], r[0], b[0, : 4 * hidden] + b[0, 4 * hidden :]))
        elif node.op_type == "MatMul" and node.input[1] in inits and layers:
            head_w = inits[node.input[1]]
        elif node.op_type == "Add" and head_w is not None and head_b is None:
            head_b = next((inits[n] for n in node.input if n in inits), None)
    if embedding is None or not layers or head_w is None or head_b is None:
        raise QuantizeError(f"{path}: not an embedding -> LSTM -> linear step model")
    return StepWeights(embedding, layers, head_w, head_b)


def quantize_columns(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-column int8 of ``w`` [K, N]: (int8 [K, N], float32 scales [N])."""
    scale = np.abs(w).max(axis=0) / WEIGHT_LEVELS
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    q = np.clip(np.round(w / scale), -WEIGHT_LEVELS, WEIGHT_LEVELS).astype(np.int8)
    return q, scale


class _Graph:
    """A small builder: unique names, initializers and nodes of one (sub)graph."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, name: str, value: np.ndarray | np.generic) -> str:
        full = f"{self.prefix}{name}"
        self.initializers.append(numpy_helper.from_array(np.asarray(value), full))
        return full

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs: Any) -> list[str]:
        self._count += 1
        outs = [f"{self.prefix}{op_type}_{self._count}_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, **attrs))
        return outs

    def one(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        return self.op(op_type, inputs, **attrs)[0]


def _int8_matmul(
    g: _Graph, x: str, w: np.ndarray, name: str, bias: np.ndarray | None, x_range: float = 1.0
) -> str:
    """x @ w [K, N] with int8 weights; x lies in [-x_range, x_range] and is quantized with that
    fixed scale, element by element, so no row of a batch changes another's result."""
    q, scale = quantize_columns(w)
    x_scale = g.const(f"{name}_xs", np.float32(x_range / 127.0))
    zero = g.const("zero_u8", np.uint8(STATE_ZERO))
    xq = g.one("QuantizeLinear", [x, x_scale, zero])
    inputs = [xq, g.const(f"{name}_q", q), x_scale, g.const(f"{name}_s", scale), zero, ""]
    if bias is not None:
        inputs.append(g.const(f"{name}_b", bias.astype(np.float32)))
    return g.one("MatMulIntegerToFloat", inputs, domain="com.microsoft")


def _cell_body(layer: LayerWeights, index: int) -> onnx.GraphProto:
    """Scan body: state (h, c) [1, B, H], scanned input gates_x [1, B, 4H] -> (h', c', h')."""
    hidden = layer.r.shape[1]
    g = _Graph(f"l{index}_")
    gates = g.one("Add", ["gx", _int8_matmul(g, "h", layer.r.T, "r", None)])
    i, o, f, cand = g.op("Split", [gates], 4, axis=2)
    i, o, f = (g.one("Sigmoid", [x]) for x in (i, o, f))
    g.nodes.append(
        helper.make_node(
            "Add", [g.one("Mul", [f, "c"]), g.one("Mul", [i, g.one("Tanh", [cand])])], ["c_next"]
        )
    )
    g.nodes += [
        helper.make_node("Mul", [o, g.one("Tanh", ["c_next"])], ["h_next"]),
        helper.make_node("Identity", ["h_next"], ["h_seq"]),
    ]
    shape = [1, "B", hidden]
    state = [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in "hc"]
    gx = helper.make_tensor_value_info("gx", TensorProto.FLOAT, [1, "B", 4 * hidden])
    outs = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, shape)
        for n in ("h_next", "c_next", "h_seq")
    ]
    return helper.make_graph(g.nodes, f"cell{index}", [*state, gx], outs, g.initializers)


def build_int8_step_model(weights: StepWeights) -> onnx.ModelProto:
    """The int8 step model (same inputs, outputs and shapes as the fp32 one).

    States stay [1, B, H] per layer (no squeezing per call); the sequence is [T, 1, B, .].
    """
    g = _Graph("")
    hidden, layers = weights.hidden, len(weights.layers)
    # the embedding is a constant table, so its range is known: a fixed scale again
    x = g.one("Gather", [g.const("embedding", weights.embedding.astype(np.float32)), "tokens"])
    x = g.one("Transpose", [x], perm=[1, 0, 2])  # [T, B, E]
    x = g.one("Unsqueeze", [x, g.const("axis1", np.array([1]))])  # [T, 1, B, E]
    x_range = float(np.abs(weights.embedding).max())
    h_in = g.op("Split", ["h"], layers, axis=0) if layers > 1 else ["h"]
    c_in = g.op("Split", ["c"], layers, axis=0) if layers > 1 else ["c"]
    h_outs, c_outs = [], []
    for index, layer in enumerate(weights.layers):
        # input gates of the whole sequence at once: [T, 1, B, in] @ [in, 4H]
        x = _int8_matmul(g, x, layer.w.T, f"w{index}", layer.bias, x_range)
        x_range = 1.0  # the layers above read hidden states
        h_last, c_last, x = g.op(
            "Scan",
            [h_in[index], c_in[index], x],
            3,
            num_scan_inputs=1,
            body=_cell_body(layer, index),
        )
        h_outs.append(h_last)
        c_outs.append(c_last)
    logits = _int8_matmul(g, h_last, weights.head_w, "head", weights.head_b)
    g.nodes += [
        helper.make_node("Squeeze", [logits, g.const("axis0", np.array([0]))], ["logits"]),
        helper.make_node("Concat", h_outs, ["h_out"], axis=0),
        helper.make_node("Concat", c_outs, ["c_out"], axis=0),
    ]
    vocab = weights.head_w.shape[1]
    state: list[str | int | None] = [layers, "batch", hidden]
    graph = helper.make_graph(
        g.nodes,
        "int8_step_model",
        [
            helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "steps"]),
            helper.make_tensor_value_info("h", TensorProto.FLOAT, state),
            helper.make_tensor_value_info("c", TensorProto.FLOAT, state),
        ],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", vocab]),
            helper.make_tensor_value_info("h_out", TensorProto.FLOAT, state),
            helper.make_tensor_value_info("c_out", TensorProto.FLOAT, state),
        ],
        _dedupe(g.initializers),
    )
    assert tuple(i.name for i in graph.input) == ONNX_INPUTS
    assert tuple(o.name for o in graph.output) == ONNX_OUTPUTS
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _dedupe(initializers: list[onnx.TensorProto]) -> list[onnx.TensorProto]:
    seen: dict[str, onnx.TensorProto] = {}
    for tensor in initializers:
        seen.setdefault(tensor.name, tensor)
    return list(seen.values())


def quantize_int8(src: Path, dst: Path) -> None:
    """Write the int8 step model of the fp32 step model ``src`` to ``dst``."""
    onnx.save(build_int8_step_model(read_step_weights(src)), str(dst))
