"""The floor under int8 serving: a step's matrix products alone, fp32 against int8.

    .venv/bin/python -m bench.int8_floor [--model exported_models/lovecraft.json] [--tokens 400]

One batch-1 step of an LSTM step model is, besides a few dozen small element-wise ops, one
product per weight matrix: W and R of each layer and the output head. This bench builds two
onnxruntime graphs that do only those products, with the model's own shapes (random values):
fp32 ``MatMul``, and the int8 ``MatMulIntegerToFloat`` that ``training/quantize.py`` emits
(u8 activations, s8 weights). It times both in alternation on one thread, best of 3, and
prints the ratio: how much faster than fp32 an int8 step can be at all on this machine,
before any graph, Python or sampling cost. At batch 1 the products read every weight once
per token, so the ratio is set by memory traffic (4 bytes against 1 per weight), not by
arithmetic.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from bot.engine.bundle import ModelBundle
from training.quantize import read_step_weights


def product_graph(shapes: list[tuple[int, int]], int8: bool) -> ort.InferenceSession:
    """A session that multiplies one [1, K] row by each [K, N] matrix of ``shapes``."""
    rng = np.random.default_rng(0)
    nodes, inits, inputs, outputs = [], [], [], []
    scale = numpy_helper.from_array(np.float32(1 / 127), "x_scale")
    zero = numpy_helper.from_array(np.uint8(128), "zero")
    for i, (k, n) in enumerate(shapes):
        x, y = f"x{i}", f"y{i}"
        inputs.append(helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, k]))
        outputs.append(helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, n]))
        if int8:
            w = rng.integers(-63, 64, (k, n), dtype=np.int8)
            inits += [numpy_helper.from_array(w, f"w{i}")]
            inits += [numpy_helper.from_array(np.full(n, 0.01, np.float32), f"s{i}")]
            nodes.append(helper.make_node("QuantizeLinear", [x, "x_scale", "zero"], [f"q{i}"]))
            nodes.append(
                helper.make_node(
                    "MatMulIntegerToFloat",
                    [f"q{i}", f"w{i}", "x_scale", f"s{i}", "zero"],
                    [y],
                    domain="com.microsoft",
                )
            )
        else:
            w = rng.normal(0, 0.05, (k, n)).astype(np.float32)
            inits.append(numpy_helper.from_array(w, f"w{i}"))
            nodes.append(helper.make_node("MatMul", [x, f"w{i}"], [y]))
    if int8:
        inits += [scale, zero]
    graph = helper.make_graph(nodes, "products", inputs, outputs, inits)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, ["CPUExecutionProvider"])


def us_per_step(session: ort.InferenceSession, tokens: int) -> float:
    rng = np.random.default_rng(1)
    feeds = {
        i.name: rng.uniform(-1, 1, (1, i.shape[1])).astype(np.float32) for i in session.get_inputs()
    }
    session.run(None, feeds)  # warm-up
    start = time.perf_counter()
    for _ in range(tokens):
        session.run(None, feeds)
    return (time.perf_counter() - start) / tokens * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("exported_models/lovecraft.json"))
    parser.add_argument("--tokens", type=int, default=400)
    args = parser.parse_args(argv)
    bundle = ModelBundle.load(args.model)
    weights = read_step_weights(bundle.onnx_path)
    shapes = [m.T.shape for layer in weights.layers for m in (layer.w, layer.r)]
    shapes.append(weights.head_w.shape)
    megabytes = sum(k * n for k, n in shapes) / 1e6
    fp32, int8 = product_graph(shapes, int8=False), product_graph(shapes, int8=True)
    best = {"fp32": float("inf"), "int8": float("inf")}
    for _ in range(3):
        best["fp32"] = min(best["fp32"], us_per_step(fp32, args.tokens))
        best["int8"] = min(best["int8"], us_per_step(int8, args.tokens))
    print(
        f"{args.model.stem}: products of one batch-1 step, {len(shapes)} matrices, "
        f"{megabytes:.2f} M weights ({4 * megabytes:.1f} MB fp32, {megabytes:.1f} MB int8)\n"
        f"  fp32 MatMul {best['fp32']:.0f} us, int8 MatMulIntegerToFloat {best['int8']:.0f} us "
        f"(best of 3): int8/fp32 speed {best['fp32'] / best['int8']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
