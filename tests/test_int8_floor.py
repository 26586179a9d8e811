"""The int8 floor bench times the products it claims to (a smoke test, not a timing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import int8_floor
from training.random_model import export_random_model


def test_both_graphs_multiply_one_row_by_each_matrix() -> None:
    shapes = [(8, 12), (12, 5)]
    x = [np.linspace(-1, 1, k, dtype=np.float32)[None] for k, _ in shapes]
    for int8 in (False, True):
        session = int8_floor.product_graph(shapes, int8=int8)
        got = session.run(None, {f"x{i}": row for i, row in enumerate(x)})
        assert [y.shape for y in got] == [(1, n) for _, n in shapes]
        if int8:  # u8 codes of x around 128 times s8 weights, scaled back
            weights = _int8_weights(shapes)
            for row, w, y in zip(x, weights, got, strict=True):
                codes = np.round(row * 127).astype(np.int32)
                want = (codes @ w.astype(np.int32)) * (0.01 / 127)
                np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def _int8_weights(shapes: list[tuple[int, int]]) -> list[np.ndarray]:
    """The int8 weights the graph was built with (same seed, same draws)."""
    rng = np.random.default_rng(0)
    return [rng.integers(-63, 64, (k, n), dtype=np.int8) for k, n in shapes]


def test_main_prints_the_ratio_for_a_model(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = export_random_model(tmp_path, "tiny", layers=2, hidden=32, emb=8)
    assert int8_floor.main(["--model", str(model), "--tokens", "3"]) == 0
    out = capsys.readouterr().out
    assert "tiny: products of one batch-1 step, 5 matrices" in out
    assert "int8/fp32 speed" in out
