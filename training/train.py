"""Train a character- or word-level LSTM language model.

    python -m training.train training/configs/lovecraft.toml [--hidden-size 512 ...] [--resume]
    python -m training.train CONFIG --init-from exported_models/lovecraft.json   # fine-tune

Reads top to bottom: data -> setup (runtime, model, optimiser, resume) -> one step ->
evaluate and checkpoint -> the loop. Stateful truncated BPTT: the corpus stream is cut into
``batch_size`` parallel rows and the LSTM state is carried from one batch to the next within
an epoch (detached), so the model learns dependencies longer than ``seq_len``. Under
``torchrun`` each rank trains its own rows with DistributedDataParallel (nccl on CUDA, gloo
on CPU). Checkpoints are safetensors (training/checkpoint.py); at each evaluation a seeded
sample is printed and appended to ``runs/NAME/samples.txt``.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from bot.engine.contract import SpecialTokens
from training import checkpoint as ckpt
from training.checkpoint import Checkpoint, CheckpointError, Progress
from training.config import ConfigError, TrainConfig, command_line
from training.data import (
    Corpus,
    CorpusError,
    batches_per_epoch,
    batchify,
    build_vocab,
    encode_documents,
    load_training_split,
)
from training.finetune import InitError, Shipped, grow_rows, load_shipped, merge_vocabulary
from training.models import LSTMLanguageModel, State, build_model
from training.runtime import Runtime, setup_runtime
from training.samples import draw_sample, record_sample

# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class Dataset:
    corpus: Corpus
    vocab: list[str]
    special: SpecialTokens
    validation: np.ndarray
    train_tokens: int
    new_tokens: list[str]  # with --init-from: tokens the shipped vocabulary lacked

    def steps_per_epoch(self, config: TrainConfig) -> int:
        return batches_per_epoch(self.train_tokens, config.batch_size, config.seq_len)


def prepare_data(config: TrainConfig, shipped: Shipped | None = None) -> Dataset:
    corpus = load_training_split(vars(config))
    vocab, special = build_vocab(corpus, min_count=config.min_count)
    new_tokens: list[str] = []
    if shipped is not None:
        merged = merge_vocabulary(shipped.meta.vocab, shipped.meta.special_tokens, vocab, special)
        vocab, special, new_tokens = merged.tokens, merged.special, merged.new
    validation = encode_documents(corpus.validation, vocab, special)
    train_tokens = len(encode_documents(corpus.train, vocab, special))
    batchify(validation, config.eval_batch_size, config.seq_len, source=f"{config.corpus_path}")
    return Dataset(corpus, vocab, special, validation, train_tokens, new_tokens)


def epoch_rows(data: Dataset, config: TrainConfig, epoch: int, runtime: Runtime) -> torch.Tensor:
    """This rank's rows for one epoch; documents are reshuffled every epoch (seeded)."""
    docs = list(data.corpus.train)
    random.Random(config.seed * 1000 + epoch).shuffle(docs)
    stream = encode_documents(docs, data.vocab, data.special)
    rows = batchify(stream, config.batch_size, config.seq_len, source=config.corpus_path)
    return torch.from_numpy(rows[runtime.rank :: runtime.world_size].copy())


# ---------------------------------------------------------------------------------------------
# Evaluation


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


# ---------------------------------------------------------------------------------------------
# Schedule and curves


def lr_factor(step: int, warmup: int, done: float, min_ratio: float) -> float:
    """Linear warmup over ``warmup`` steps, then cosine decay to ``min_ratio`` of the peak.

    ``done`` is the fraction of training completed, in [0, 1].
    """
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, max(0.0, done))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def fraction_done(
    step: int, total_steps: int, warmup: int, elapsed_s: float, budget_s: float
) -> float:
    """How far the decay has gone: by steps, or by wall time when a time budget is set.

    With ``--max-minutes`` the schedule reaches its minimum when the budget runs out, so a
    time-boxed run still ends with a fully decayed learning rate.
    """
    by_steps = (step - warmup) / max(1, total_steps - warmup)
    return max(by_steps, elapsed_s / budget_s) if budget_s < math.inf else by_steps


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


# ---------------------------------------------------------------------------------------------
# Setup


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


def _from_shipped(config: TrainConfig) -> tuple[TrainConfig, Shipped | None]:
    """The shipped model named by ``init_from``, and the config with its sizes."""
    if not config.init_from:
        return config, None
    try:
        shipped = load_shipped(Path(config.init_from))
    except InitError as exc:
        raise ConfigError(f"init_from: {exc}") from None
    if shipped.meta.level != config.level:
        raise ConfigError(
            f"init_from: {config.init_from} is a {shipped.meta.level}-level model; "
            f"corpus_kind {config.corpus_kind!r} needs a {config.level}-level one"
        )
    arch = shipped.meta.architecture
    config = dataclasses.replace(config, embedding_size=arch.embedding_size, layers=arch.layers)
    return dataclasses.replace(config, hidden_size=arch.hidden_size), shipped


def _restore(session: Session, saved: Checkpoint) -> None:
    """Continue exactly where ``saved`` stopped."""
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
    runtime = session.runtime
    if runtime.world_size == 1 and saved.carried_state is not None:  # DDP ranks restart at 0
        session.state = (saved.carried_state[0].to(runtime.device),
                         saved.carried_state[1].to(runtime.device))  # fmt: skip


def setup(config: TrainConfig, *, resume: bool = False) -> Session:
    """Runtime, data, model, optimiser and schedule; restored from last checkpoint on resume."""
    config, shipped = _from_shipped(config)
    runtime = setup_runtime(config)
    torch.manual_seed(config.seed)
    data = prepare_data(config, shipped)
    config.run_dir.mkdir(parents=True, exist_ok=True)
    model = build_model(
        config.level,
        vocab_size=len(data.vocab),
        embedding_size=config.embedding_size,
        hidden_size=config.hidden_size,
        layers=config.layers,
        dropout=config.dropout,
        io_dropout=config.io_dropout,
        weight_drop=config.weight_drop,
    )
    init_report: dict[str, Any] = {}
    if shipped is not None:
        model.load_state_dict(grow_rows(shipped.weights, len(data.vocab)))
        init_report = {
            "init_from": config.init_from,
            "weights": str(shipped.source),
            "shipped_vocab": shipped.meta.vocab_size,
            "new_tokens": data.new_tokens,
        }
    model.to(runtime.device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    total_steps = max(1, int(config.epochs * data.steps_per_epoch(config)))
    budget_s = config.max_minutes * 60 if config.max_minutes > 0 else math.inf
    clock = {"elapsed_s": 0.0}
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(
            step,
            config.warmup_steps,
            fraction_done(step, total_steps, config.warmup_steps, clock["elapsed_s"], budget_s),
            config.min_lr_ratio,
        ),
    )
    session = Session(
        config=config,
        runtime=runtime,
        data=data,
        model=model,
        trained=DistributedDataParallel(model) if runtime.world_size > 1 else model,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=torch.amp.GradScaler(
            runtime.device.type, enabled=runtime.amp_dtype == torch.float16
        ),
        progress=Progress(),
        state=model.initial_state(config.batch_size // runtime.world_size, runtime.device),
        total_steps=total_steps,
        budget_s=budget_s,
        clock=clock,
        init_report=init_report,
    )
    if resume:
        path = config.run_dir / "last.safetensors"
        try:
            saved = ckpt.load(path, runtime.device)
        except CheckpointError as exc:
            raise SystemExit(f"--resume: {exc}") from None
        if saved.vocab != data.vocab:
            raise SystemExit(f"{path}: vocabulary differs from the corpus")
        _restore(session, saved)
    return session


def describe(session: Session) -> str:
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


# ---------------------------------------------------------------------------------------------
# One step


def train_step(
    trained: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    x: torch.Tensor,
    y: torch.Tensor,
    state: State,
    config: TrainConfig,
    runtime: Runtime,
) -> tuple[torch.Tensor, State]:
    """One optimiser step on one batch; returns the loss and the detached carried state.

    The gradients are left in ``.grad``, clipped to ``config.grad_clip`` in total norm.
    """
    with runtime.autocast():
        logits, state = trained(x, state)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
    state = (state[0].detach(), state[1].detach())
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(trained.parameters(), config.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return loss.detach(), state


# ---------------------------------------------------------------------------------------------
# Evaluate and checkpoint


@dataclass
class Window:
    """Training loss and speed since the last evaluation."""

    loss: float = 0.0
    steps: int = 0
    tokens: int = 0
    started: float = dataclasses.field(default_factory=time.monotonic)

    def tokens_per_s(self) -> float:
        return self.tokens / max(1e-9, time.monotonic() - self.started)


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


def evaluate_and_checkpoint(session: Session, window: Window, elapsed: float, write: Any) -> None:
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


# ---------------------------------------------------------------------------------------------
# The loop


def budget_clock(config: TrainConfig) -> Callable[[], float]:
    """What ``max_minutes`` and the time-based decay count: wall or process CPU seconds."""
    return {"wall": time.monotonic, "cpu": time.process_time}[config.budget_clock]


def train(config: TrainConfig, *, resume: bool = False) -> Path:
    """Run training; returns the path of the best checkpoint."""
    session = setup(config, resume=resume)
    config, runtime, data = session.config, session.runtime, session.data
    progress = session.progress
    if runtime.is_main:
        print(describe(session), flush=True)
    rows = epoch_rows(data, config, progress.epoch, runtime)
    bar = tqdm(
        total=session.total_steps,
        initial=progress.step,
        disable=not (runtime.is_main and config.progress),
        mininterval=1.0 if sys.stderr.isatty() else 30.0,
        dynamic_ncols=True,
    )
    clock = budget_clock(config)
    started = clock() - progress.wall_time_s
    window = Window()
    session.model.train()
    while progress.step < session.total_steps:
        if progress.batch_in_epoch == data.steps_per_epoch(config):
            progress.epoch += 1
            progress.batch_in_epoch = 0
            rows = epoch_rows(data, config, progress.epoch, runtime)
        if progress.batch_in_epoch == 0:
            session.state = session.model.initial_state(rows.shape[0], runtime.device)
        start = progress.batch_in_epoch * config.seq_len
        x = rows[:, start : start + config.seq_len].to(runtime.device, non_blocking=True)
        y = rows[:, start + 1 : start + 1 + config.seq_len].to(runtime.device, non_blocking=True)
        loss, session.state = train_step(
            session.trained, session.optimizer, session.scaler, x, y, session.state, config,
            runtime,
        )  # fmt: skip
        session.clock["elapsed_s"] = clock() - started
        session.scheduler.step()

        progress.step += 1
        progress.batch_in_epoch += 1
        tokens = y.numel() * runtime.world_size
        progress.tokens_seen += tokens
        window.loss += loss.item()
        window.steps += 1
        window.tokens += tokens
        elapsed = clock() - started
        budget_spent = elapsed >= session.budget_s
        if runtime.world_size > 1 and session.budget_s < math.inf:  # all ranks stop together
            flag = torch.tensor([float(budget_spent)], device=runtime.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            budget_spent = bool(flag.item())
        bar.update(1)
        bar.set_postfix(
            loss=f"{loss.item():.3f}", tok_s=f"{window.tokens_per_s():,.0f}", refresh=False
        )
        budget_spent = budget_spent or progress.step == config.max_steps
        last_step = progress.step == session.total_steps or budget_spent
        if progress.step % config.eval_every == 0 or last_step:
            progress.wall_time_s = elapsed
            if runtime.is_main:
                evaluate_and_checkpoint(session, window, elapsed, bar.write)
            window = Window()
        if budget_spent:
            if runtime.is_main:
                bar.write(f"stopping at step {progress.step}: step or time budget reached")
            break
    bar.close()
    if runtime.world_size > 1:
        dist.barrier()
        dist.destroy_process_group()
    return session.run_dir / "best.safetensors"


def main(argv: list[str] | None = None) -> int:
    try:
        config, resume = command_line(argv, __doc__)
        best = train(config, resume=resume)
    except ConfigError as exc:  # bad settings, or ones this machine or init_from cannot take
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"best checkpoint: {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
