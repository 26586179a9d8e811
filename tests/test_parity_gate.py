"""The export's parity gate on small untrained models (seconds, no training): a faithful
graph passes, and a graph off by 1e-3 or with its states mixed up is refused."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import training.export as export_module
from training.export import export_onnx
from training.models import LSTMLanguageModel, StepModel, build_model
from training.parity import check_parity, within_tolerance


def small_model(seed: int = 0) -> LSTMLanguageModel:
    torch.manual_seed(seed)
    model = build_model(
        "char", vocab_size=23, embedding_size=8, hidden_size=16, layers=2, dropout=0.0
    )
    return model.eval()


def test_a_faithful_export_passes_with_room_to_spare(tmp_path: Path) -> None:
    model = small_model()
    export_onnx(model, tmp_path / "m.onnx")
    difference = check_parity(model, tmp_path / "m.onnx")
    assert difference < 1e-5
    assert within_tolerance(difference)


def test_a_graph_off_by_1e_3_is_refused(tmp_path: Path) -> None:
    """What a 50x looser tolerance (5e-3) would let through."""
    model, nudged = small_model(), small_model()
    with torch.no_grad():
        nudged.head.bias.add_(1e-3)
    export_onnx(nudged, tmp_path / "nudged.onnx")
    difference = check_parity(model, tmp_path / "nudged.onnx")
    assert difference == pytest.approx(1e-3, rel=0.05)
    assert not within_tolerance(difference)


def test_the_tolerance_is_1e_4_and_nan_never_passes() -> None:
    assert within_tolerance(0.0)
    assert within_tolerance(0.99e-4)
    assert not within_tolerance(1e-4)  # the contract says "< 1e-4"
    assert not within_tolerance(1.01e-4)
    assert not within_tolerance(math.nan)  # a graph producing NaN must never ship


def test_the_figure_is_reproducible(tmp_path: Path) -> None:
    """The export prints it: the same model and graph always give the same number."""
    model, nudged = small_model(), small_model()
    with torch.no_grad():
        nudged.head.bias.add_(torch.linspace(-1e-3, 1e-3, 23))
    export_onnx(nudged, tmp_path / "nudged.onnx")
    assert check_parity(model, tmp_path / "nudged.onnx") == check_parity(
        model, tmp_path / "nudged.onnx"
    )


class FirstStepLogitsStep(StepModel):
    """A broken exporter that returns the first step's logits instead of the last: right for
    every single-step call, wrong for each multi-step (priming) call."""

    def forward(self, tokens: torch.Tensor, h: torch.Tensor, c: torch.Tensor):  # type: ignore[override]
        logits, (h_out, c_out) = self.model(tokens, (h, c))
        return logits[:, 0, :], h_out, c_out


def test_a_graph_wrong_only_when_priming_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = small_model()
    monkeypatch.setattr(export_module, "StepModel", FirstStepLogitsStep)
    export_onnx(model, tmp_path / "first.onnx")
    assert not within_tolerance(check_parity(model, tmp_path / "first.onnx"))


class SwappedStateStep(StepModel):
    """A broken exporter: reads input h as c and writes c as h_out (and the reverse). Fed its
    own states back it predicts exactly right, so only the states themselves show the bug."""

    def forward(self, tokens: torch.Tensor, h: torch.Tensor, c: torch.Tensor):  # type: ignore[override]
        logits, (h_out, c_out) = self.model(tokens, (c, h))
        return logits[:, -1, :], c_out, h_out


def test_mixed_up_states_are_refused_though_every_logit_agrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = small_model()
    monkeypatch.setattr(export_module, "StepModel", SwappedStateStep)
    export_onnx(model, tmp_path / "swapped.onnx")
    difference = check_parity(model, tmp_path / "swapped.onnx")
    assert difference > 1e-2
    assert not within_tolerance(difference)


@pytest.mark.parametrize("scaled", ["h", "c"])
def test_a_state_stored_at_another_scale_is_refused(
    scaled: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A graph that keeps one state doubled (and halves it on input) predicts every token
    right, but its state is not the contract's LSTM state."""

    class ScaledStateStep(StepModel):
        def forward(self, tokens: torch.Tensor, h: torch.Tensor, c: torch.Tensor):  # type: ignore[override]
            if scaled == "h":
                logits, h_out, c_out = super().forward(tokens, h / 2, c)
                return logits, h_out * 2, c_out
            logits, h_out, c_out = super().forward(tokens, h, c / 2)
            return logits, h_out, c_out * 2

    model = small_model()
    monkeypatch.setattr(export_module, "StepModel", ScaledStateStep)
    export_onnx(model, tmp_path / "scaled.onnx")
    assert not within_tolerance(check_parity(model, tmp_path / "scaled.onnx"))


def test_a_state_that_is_not_carried_between_calls_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A graph that ignores its input state is right on the first call only."""

    class FreshStateStep(StepModel):
        def forward(self, tokens: torch.Tensor, h: torch.Tensor, c: torch.Tensor):  # type: ignore[override]
            return super().forward(tokens, h * 0, c * 0)

    model = small_model()
    monkeypatch.setattr(export_module, "StepModel", FreshStateStep)
    export_onnx(model, tmp_path / "fresh.onnx")
    assert not within_tolerance(check_parity(model, tmp_path / "fresh.onnx"))
