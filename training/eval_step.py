"""The trainer's evaluation step, every ``eval_every`` steps and at the end (main rank only).

Held-out loss, a history row and a log line, a seeded sample (printed and appended to
``runs/NAME/samples.txt``), the last and best checkpoints, and the curves
(``metrics.csv``, ``loss.png``).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training.config import TrainConfig
from training.data import batchify
from training.models import LSTMLanguageModel
from training.runtime import Runtime
from training.samples import draw_sample, record_sample
from training.session import Session, save_checkpoint


@dataclass
class Window:
    """Training loss and speed since the last evaluation."""

    loss: float = 0.0
    steps: int = 0
    tokens: int = 0
    started: float = dataclasses.field(default_factory=time.monotonic)

    def tokens_per_s(self) -> float:
        return self.tokens / max(1e-9, time.monotonic() - self.started)


@torch.no_grad()
def evaluate(
    model: LSTMLanguageModel, stream: np.ndarray, config: TrainConfig, runtime: Runtime
) -> float:
    """Mean held-out loss in nats per token, stateful over the whole validation stream."""
    was_training = model.training
    model.eval()
    rows = torch.from_numpy(
        batchify(stream, config.eval_batch_size, config.seq_len, source="validation")
    ).to(runtime.device)
    state = model.initial_state(rows.shape[0], runtime.device)
    total, count = 0.0, 0
    for start in range(0, rows.shape[1] - 1, config.seq_len):
        x = rows[:, start : start + config.seq_len]
        y = rows[:, start + 1 : start + 1 + config.seq_len]
        x = x[:, : y.shape[1]]
        with runtime.autocast():
            logits, state = model(x, state)
        total += F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return total / count


def write_curves(run_dir: Path, history: list[dict[str, float]]) -> None:
    if not history:
        return
    with (run_dir / "metrics.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [row["step"] for row in history]
    ax.plot(steps, [row["train_loss"] for row in history], label="train")
    ax.plot(steps, [row["validation_loss"] for row in history], label="held-out")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(run_dir.name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(run_dir / "loss.png", dpi=110)
    plt.close(fig)


def evaluate_and_checkpoint(
    session: Session, window: Window, elapsed: float, write: Callable[[str], None]
) -> None:
    """Held-out loss, a history row, a sample, last/best checkpoints and curves (main rank)."""
    config, progress, model = session.config, session.progress, session.model
    speed = window.tokens_per_s()
    validation = evaluate(model, session.data.validation, config, session.runtime)
    progress.history.append(
        {
            "step": progress.step,
            "epoch": progress.step / session.data.steps_per_epoch(config),
            "tokens_seen": progress.tokens_seen,
            "train_loss": window.loss / window.steps,
            "validation_loss": validation,
            "lr": float(session.scheduler.get_last_lr()[0]),
            "elapsed_s": round(elapsed, 1),
            "tokens_per_s": round(speed),
        }
    )
    write(
        f"step {progress.step}: train {window.loss / window.steps:.4f} "
        f"held-out {validation:.4f} nats/token ({validation / math.log(2):.3f} bits) "
        f"{speed:,.0f} tok/s {elapsed / 60:.1f} min"
    )
    sample = draw_sample(model, session.data.vocab, session.data.special, seed=config.seed)
    write(record_sample(session.run_dir, progress.step, sample).rstrip("\n"))
    improved = validation < progress.best_validation
    if improved:
        progress.best_validation = validation
    save_checkpoint(session, session.run_dir / "last.safetensors")
    if improved:
        save_checkpoint(session, session.run_dir / "best.safetensors")
    write_curves(session.run_dir, progress.history)
