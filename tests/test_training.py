"""Trainer: loss falls, resume is exact, DDP runs, bad corpora fail clearly."""

from __future__ import annotations

import itertools
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bot.engine.contract import SpecialTokens
from tests.helpers import last, tiny_config
from tests.tiny_corpora import write_prose
from training import runtime
from training.config import ConfigError, TrainConfig, load_config
from training.models import build_model
from training.runtime import Runtime, cpu_bf16_supported, pick_amp_dtype
from training.samples import SAMPLE_TOKENS, draw_sample
from training.train import fraction_done, lr_factor, setup, train, train_step

REPO = Path(__file__).resolve().parent.parent


def history(run: Path) -> list[dict[str, float]]:
    return last(run).progress.history


def test_loss_falls_within_a_few_dozen_steps(tmp_path: Path) -> None:
    config = tiny_config(tmp_path, epochs=1.0, lr=1e-2)
    train(config)
    rows = history(config.run_dir)
    assert rows[-1]["step"] >= 40
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] - 0.5
    assert rows[-1]["validation_loss"] < rows[0]["validation_loss"]
    assert (config.run_dir / "metrics.csv").read_text().startswith("step,")
    assert (config.run_dir / "loss.png").stat().st_size > 1000


def test_resume_continues_exactly(tmp_path: Path) -> None:
    whole = tiny_config(tmp_path / "a", epochs=1.0)
    train(whole)
    interrupted = tiny_config(tmp_path / "b", epochs=1.0, max_steps=20)
    train(interrupted)
    assert history(interrupted.run_dir)[-1]["step"] == 20
    resumed = tiny_config(tmp_path / "b", epochs=1.0)
    train(resumed, resume=True)

    expected, got = history(whole.run_dir), history(resumed.run_dir)
    assert [r["step"] for r in got] == [r["step"] for r in expected]
    for a, b in zip(expected, got, strict=True):
        assert b["validation_loss"] == pytest.approx(a["validation_loss"], abs=1e-6)
    params_a = last(whole.run_dir).model
    params_b = last(resumed.run_dir).model
    for key, tensor in params_a.items():
        torch.testing.assert_close(params_b[key], tensor, rtol=0, atol=1e-6)


def test_lr_schedule_warms_up_then_decays() -> None:
    factors = [
        lr_factor(step, 10, fraction_done(step, 100, 10, 0, math.inf), 0.1) for step in range(100)
    ]
    assert factors[0] == pytest.approx(0.1)
    assert max(factors) == pytest.approx(1.0)
    assert factors.index(max(factors)) == 9
    assert factors[-1] == pytest.approx(0.1, abs=0.01)
    assert all(a >= b for a, b in itertools.pairwise(factors[9:]))


def test_time_budget_drives_the_decay() -> None:
    assert fraction_done(20, 1000, 10, elapsed_s=30, budget_s=60) == pytest.approx(0.5)
    assert fraction_done(20, 1000, 10, elapsed_s=30, budget_s=math.inf) == pytest.approx(10 / 990)
    assert lr_factor(500, 10, 1.0, 0.05) == pytest.approx(0.05)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **(env or {})},
    )


def test_cli_reports_missing_corpus_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = run_cli(
        "-m", "training.train", "--corpus-path", str(missing), "--out-dir", str(tmp_path)
    )
    assert result.returncode == 2
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_rejects_unknown_config_keys(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('corpus_path = "x"\nhidden_sise = 3\n')
    result = run_cli("-m", "training.train", str(config))
    assert result.returncode != 0
    assert "hidden_sise" in result.stderr


@pytest.mark.parametrize("setting", ["dropout=1.0", "io_dropout=-0.1", "weight_drop=1.5"])
def test_config_rejects_a_drop_probability_out_of_range(tmp_path: Path, setting: str) -> None:
    name, value = setting.split("=")
    with pytest.raises(ConfigError, match=rf"{name} must be in \[0, 1\); got {value}"):
        load_config(None, {"corpus_path": str(write_prose(tmp_path)), name: float(value)})
    with pytest.raises(ConfigError, match=rf"{name} must be in"):  # built in code, not a file
        TrainConfig(corpus_path="unused", **{name: float(value)})


def test_ddp_two_gloo_processes(tmp_path: Path) -> None:
    corpus = write_prose(tmp_path / "corpus")
    result = run_cli(
        "-m",
        "torch.distributed.run",
        "--nproc-per-node=2",
        "--standalone",
        f"--log-dir={tmp_path / 'ranks'}",
        "--redirects=3",
        "-m",
        "training.train",
        "--corpus-path",
        str(corpus),
        "--name",
        "ddp",
        "--out-dir",
        str(tmp_path / "runs"),
        "--hidden-size",
        "16",
        "--embedding-size",
        "8",
        "--batch-size",
        "4",
        "--seq-len",
        "16",
        "--eval-batch-size",
        "2",
        "--epochs",
        "1",
        "--eval-every",
        "10",
        "--validation-fraction",
        "0.25",
        "--progress",
        "false",
        env={"OMP_NUM_THREADS": "1"},
    )
    rank_logs = "\n".join(
        f"--- {log}\n{log.read_text()[-3000:]}"
        for log in sorted((tmp_path / "ranks").rglob("std*.log"))
    )
    assert result.returncode == 0, f"{result.stderr[-2000:]}\n{rank_logs}"
    checkpoint = last(tmp_path / "runs/ddp")
    assert "x2" in checkpoint.device
    rows = checkpoint.progress.history
    assert rows[-1]["validation_loss"] < rows[0]["validation_loss"] + 0.5


@pytest.mark.skipif(
    not cpu_bf16_supported(),
    reason="this CPU has no oneDNN bf16 LSTM kernel (needs AVX-512 BF16 or AMX)",
)
def test_mixed_precision_path_trains_and_resumes(tmp_path: Path) -> None:
    """The autocast path CUDA runs (bf16), exercised on CPU; fp16 needs CUDA."""
    config = tiny_config(tmp_path, amp="bf16", epochs=1.0, lr=1e-2, max_steps=20)
    train(config)
    assert "amp bfloat16" in last(config.run_dir).device
    train(tiny_config(tmp_path, amp="bf16", epochs=1.0, lr=1e-2), resume=True)
    rows = history(config.run_dir)
    assert rows[-1]["validation_loss"] < rows[0]["validation_loss"]
    assert all(math.isfinite(r["train_loss"]) for r in rows)


def test_bf16_without_cpu_support_is_refused_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "cpu_bf16_supported", lambda: False)
    with pytest.raises(ConfigError, match=r'amp = "bf16" is not supported.*amp = "off"'):
        train(tiny_config(tmp_path, amp="bf16"))
    assert not (tmp_path / "runs").exists()  # refused before any work
    assert pick_amp_dtype("auto", use_cuda=False) is None


@pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"),
    reason="ONEDNN_MAX_CPU_ISA=AVX2 emulates an AVX2-only CPU on x86-64 only",
)
def test_avx2_only_cpu_refuses_bf16_without_traceback(tmp_path: Path) -> None:
    """The real probe on an emulated AVX2-only CPU (oneDNN capped before torch loads)."""
    avx2 = {"ONEDNN_MAX_CPU_ISA": "AVX2"}
    probe = "from training.runtime import cpu_bf16_supported; print(cpu_bf16_supported())"
    assert run_cli("-c", probe, env=avx2).stdout.strip() == "False"
    corpus = write_prose(tmp_path / "corpus")
    result = run_cli(
        "-m", "training.train", "--corpus-path", str(corpus), "--out-dir", str(tmp_path),
        "--amp", "bf16", "--threads", "1", "--progress", "false", env=avx2,
    )  # fmt: skip
    assert result.returncode != 0
    assert 'amp = "bf16"' in result.stderr
    assert "Traceback" not in result.stderr


def test_fp16_on_cpu_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"fp16.* needs CUDA"):
        train(tiny_config(tmp_path, amp="fp16"))


def test_step_clips_the_gradient_norm() -> None:
    torch.manual_seed(0)
    model = build_model("char", vocab_size=11, embedding_size=8, hidden_size=16, layers=2,
                        dropout=0.0)  # fmt: skip
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    config = TrainConfig(corpus_path="unused", grad_clip=0.01)
    x = torch.randint(0, 11, (4, 12))
    y = torch.randint(0, 11, (4, 12))
    cpu = Runtime(torch.device("cpu"), None)

    def grad_norm() -> float:
        return float(torch.cat([p.grad.flatten() for p in model.parameters()]).norm())

    train_step(model, optimizer, scaler, x, y, model.initial_state(4), config, cpu)
    assert grad_norm() <= config.grad_clip * 1.001
    config.grad_clip = math.inf  # the same batch unclipped: the clip above really acted
    train_step(model, optimizer, scaler, x, y, model.initial_state(4), config, cpu)
    assert grad_norm() > 10 * 0.01


def test_each_evaluation_prints_and_appends_a_seeded_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tiny_config(tmp_path, epochs=1.0, lr=1e-2)
    train(config)
    steps = [int(row["step"]) for row in history(config.run_dir)]
    blocks = (config.run_dir / "samples.txt").read_text("utf-8").split("--- step ")[1:]
    assert [int(block.split(" ", 1)[0]) for block in blocks] == steps
    text = blocks[-1].split("---\n", 1)[1].rstrip("\n")
    assert 150 <= len(text) <= SAMPLE_TOKENS  # ~200 tokens, minus the document ends
    assert text in capsys.readouterr().out

    saved = last(config.run_dir)  # the same seed redraws the same text from the same weights
    model = build_model("char", vocab_size=len(saved.vocab), embedding_size=16, hidden_size=32,
                        layers=2, dropout=0.1)  # fmt: skip
    model.load_state_dict(saved.model)
    special = SpecialTokens(**saved.special_tokens)
    assert draw_sample(model, saved.vocab, special, seed=config.seed) == text
    assert draw_sample(model, saved.vocab, special, seed=config.seed + 1) != text


def test_budget_clock_chooses_what_max_minutes_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "process_time", lambda: 0.0)  # a CPU clock that never moves
    frozen = tiny_config(tmp_path / "cpu", budget_clock="cpu", max_minutes=1e-9, max_steps=12)
    train(frozen)
    assert history(frozen.run_dir)[-1]["step"] == 12  # the budget never ran out
    wall = tiny_config(tmp_path / "wall", budget_clock="wall", max_minutes=1e-9, max_steps=12)
    train(wall)
    assert history(wall.run_dir)[-1]["step"] == 1
    with pytest.raises(ConfigError, match="budget_clock must be one of wall, cpu; got 'gpu'"):
        tiny_config(tmp_path / "bad", budget_clock="gpu")


def test_weight_drop_masks_recurrent_weights_while_training_only() -> None:
    torch.manual_seed(0)
    model = build_model("char", vocab_size=11, embedding_size=8, hidden_size=16, layers=2,
                        dropout=0.0, weight_drop=0.5)  # fmt: skip
    plain = build_model("char", vocab_size=11, embedding_size=8, hidden_size=16, layers=2,
                        dropout=0.0)  # fmt: skip
    plain.load_state_dict(model.state_dict())  # no extra parameters: exports as before
    x = torch.randint(0, 11, (3, 9))
    logits, _ = model.train()(x)
    logits.sum().backward()
    for name, weight in model.lstm.named_parameters():
        zero_share = float((weight.grad == 0).float().mean())
        # about half the recurrent weights get no gradient this step; the input weights all do
        assert (0.3 < zero_share < 0.7) if name.startswith("weight_hh") else zero_share < 0.05
    assert not torch.allclose(logits, plain.train()(x)[0])
    assert torch.equal(model.eval()(x)[0], plain.eval()(x)[0])


def test_weight_drop_is_a_config_setting_that_reaches_the_model(tmp_path: Path) -> None:
    config = tiny_config(tmp_path, epochs=0.2, weight_drop=0.25)
    session = setup(config)
    assert session.model.weight_drop == 0.25
