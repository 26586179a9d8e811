"""One training run's state, and its round trip through a checkpoint.

A :class:`Session` is everything the loop carries from step to step. It is saved whole at
each evaluation (``runs/NAME/last.safetensors``, and ``best.safetensors`` when the held-out
loss improved) and restored exactly by ``--resume``: weights, optimiser, schedule, scaler,
progress, RNG states and the carried LSTM state.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from training import checkpoint as ckpt
from training.checkpoint import Checkpoint, CheckpointError, Progress
from training.config import TrainConfig
from training.dataset import Dataset
from training.models import LSTMLanguageModel, State
from training.runtime import Runtime


@dataclass
class Session:
    """Everything one training run carries from step to step."""

    config: TrainConfig
    runtime: Runtime
    data: Dataset
    model: LSTMLanguageModel
    trained: torch.nn.Module  # the model, wrapped in DDP when there are several ranks
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    progress: Progress
    state: State
    total_steps: int
    budget_s: float
    clock: dict[str, float]  # elapsed_s, read by the schedule
    init_report: dict[str, Any]

    @property
    def run_dir(self) -> Path:
        return self.config.run_dir


def save_checkpoint(session: Session, path: Path) -> None:
    corpus, data = session.data.corpus, session.data
    ckpt.save(
        path,
        Checkpoint(
            config=session.config.to_dict(),
            vocab=data.vocab,
            special_tokens=dataclasses.asdict(data.special),
            corpus={
                "name": corpus.name,
                "kind": corpus.kind,
                "files": [f.name for f in corpus.files],
                "bytes": corpus.bytes,
                "sha256": corpus.sha256,
                "documents": corpus.documents,
                "train_documents": len(corpus.train),
                "validation_documents": len(corpus.validation),
                "train_tokens": data.train_tokens,
                "validation_tokens": len(data.validation),
                "dropped": corpus.dropped,
            },
            progress=session.progress,
            device=session.runtime.describe(),
            torch_version=torch.__version__,
            model=session.model.state_dict(),
            optimizer=session.optimizer.state_dict(),
            scheduler=session.scheduler.state_dict(),
            scaler=session.scaler.state_dict(),
            carried_state=session.state,
            rng_torch=torch.get_rng_state(),
            rng_cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            init_report=session.init_report,
        ),
    )


def restore_last(session: Session) -> None:
    """Continue exactly where the run's last checkpoint stopped (``--resume``)."""
    path = session.run_dir / "last.safetensors"
    runtime = session.runtime
    try:
        saved = ckpt.load(path, runtime.device)
    except CheckpointError as exc:
        raise SystemExit(f"--resume: {exc}") from None
    if saved.vocab != session.data.vocab:
        raise SystemExit(f"{path}: vocabulary differs from the corpus")
    session.model.load_state_dict(saved.model)
    session.optimizer.load_state_dict(saved.optimizer or {})
    session.scheduler.load_state_dict(saved.scheduler or {})
    session.scaler.load_state_dict(saved.scaler or {})
    session.progress = saved.progress
    session.init_report = saved.init_report
    if saved.rng_torch is not None:
        torch.set_rng_state(saved.rng_torch)
    if saved.rng_cuda is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved.rng_cuda)
    if runtime.world_size == 1 and saved.carried_state is not None:  # DDP ranks restart at 0
        session.state = (saved.carried_state[0].to(runtime.device),
                         saved.carried_state[1].to(runtime.device))  # fmt: skip


def describe(session: Session) -> str:
    """The line printed when training starts: model, data, steps, device, what init_from did."""
    config, data, model = session.config, session.data, session.model
    text = (
        f"{config.name}: {config.level} LSTM {config.layers}x{config.hidden_size}, "
        f"{model.parameter_count():,} parameters, vocab {len(data.vocab)}, "
        f"{data.train_tokens:,} train / {len(data.validation):,} held-out tokens "
        f"({len(data.corpus.train)}/{len(data.corpus.validation)} documents), "
        f"{session.total_steps} steps on {session.runtime.describe()}"
    )
    if data.corpus.dropped:
        text += f"; dropped {data.corpus.dropped}"
    report = session.init_report
    if report:
        new = report["new_tokens"]
        shown = ", ".join(repr(t) for t in new[:30]) + (", ..." if len(new) > 30 else "")
        text += (
            f"\ninit from {report['init_from']} (weights read from {report['weights']}): "
            f"vocabulary {report['shipped_vocab']} -> {len(data.vocab)}, "
            f"{len(new)} new token{'' if len(new) == 1 else 's'}" + (f": {shown}" if new else "")
        )
    return text
