"""Train a character- or word-level LSTM language model.

    python -m training.train training/configs/lovecraft.toml [--hidden-size 512 ...] [--resume]

Reads top to bottom: config -> devices -> data -> model -> optimiser -> loop -> checkpoints.
Stateful truncated BPTT: the corpus stream is cut into ``batch_size`` parallel rows and the
LSTM state is carried from one batch to the next within an epoch (detached), so the model
learns dependencies longer than ``seq_len``. Under ``torchrun`` each rank trains its own
rows with DistributedDataParallel (nccl on CUDA, gloo on CPU).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from training.config import TrainConfig, add_config_arguments, load_config
from training.data import Corpus, CorpusError, batchify, build_vocab, encode_documents, load_corpus
from training.models import LSTMLanguageModel, State, build_model
from training.runtime import Runtime, setup_runtime

# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class Dataset:
    corpus: Corpus
    vocab: list[str]
    special: Any
    validation: np.ndarray
    train_tokens: int


def prepare_data(config: TrainConfig) -> Dataset:
    corpus = load_corpus(
        config.corpus_kind,
        config.corpus_path,
        name=config.name,
        pattern=config.corpus_pattern,
        validation_fraction=config.validation_fraction,
        seed=config.split_seed,
    )
    vocab, special = build_vocab(corpus, min_count=config.min_count)
    validation = encode_documents(corpus.validation, vocab, special)
    train_tokens = len(encode_documents(corpus.train, vocab, special))
    batchify(validation, config.eval_batch_size, config.seq_len, source=f"{config.corpus_path}")
    return Dataset(corpus, vocab, special, validation, train_tokens)


def epoch_rows(data: Dataset, config: TrainConfig, epoch: int, runtime: Runtime) -> torch.Tensor:
    """This rank's rows for one epoch; documents are reshuffled every epoch (seeded)."""
    docs = list(data.corpus.train)
    random.Random(config.seed * 1000 + epoch).shuffle(docs)
    stream = encode_documents(docs, data.vocab, data.special)
    rows = batchify(stream, config.batch_size, config.seq_len, source=config.corpus_path)
    return torch.from_numpy(rows[runtime.rank :: runtime.world_size].copy())


def steps_per_epoch(data: Dataset, config: TrainConfig) -> int:
    return (data.train_tokens // config.batch_size - 1) // config.seq_len


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
# Schedule, checkpoints, curves


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


@dataclass
class Progress:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    tokens_seen: int = 0
    wall_time_s: float = 0.0
    best_validation: float = math.inf
    history: list[dict[str, float]] = field(default_factory=list)


def save_checkpoint(
    path: Path,
    model: LSTMLanguageModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    state: tuple[torch.Tensor, torch.Tensor],
    progress: Progress,
    config: TrainConfig,
    data: Dataset,
    runtime: Runtime,
) -> None:
    corpus = data.corpus
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "carried_state": [t.detach().cpu() for t in state],
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        },
        "progress": progress.__dict__,
        "config": config.to_dict(),
        "vocab": data.vocab,
        "special_tokens": data.special.__dict__,
        "corpus": {
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
        "device": runtime.describe(),
        "torch_version": torch.__version__,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(checkpoint, tmp)
    tmp.replace(path)  # never leave a half-written checkpoint behind


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
# Training


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


def train(config: TrainConfig, *, resume: bool = False) -> Path:
    """Run training; returns the path of the best checkpoint."""
    runtime = setup_runtime(config)
    torch.manual_seed(config.seed)
    data = prepare_data(config)
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)

    model = build_model(
        config.level,
        vocab_size=len(data.vocab),
        embedding_size=config.embedding_size,
        hidden_size=config.hidden_size,
        layers=config.layers,
        dropout=config.dropout,
    ).to(runtime.device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    total_steps = max(1, int(config.epochs * steps_per_epoch(data, config)))
    budget_s = config.max_minutes * 60 if config.max_minutes > 0 else math.inf
    clock = {"elapsed_s": 0.0}  # read by the schedule; updated every step
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(
            step,
            config.warmup_steps,
            fraction_done(step, total_steps, config.warmup_steps, clock["elapsed_s"], budget_s),
            config.min_lr_ratio,
        ),
    )
    scaler = torch.amp.GradScaler(runtime.device.type, enabled=runtime.amp_dtype == torch.float16)
    progress = Progress()
    state = model.initial_state(config.batch_size // runtime.world_size, runtime.device)

    if resume:
        checkpoint = torch.load(
            run_dir / "last.pt", map_location=runtime.device, weights_only=False
        )
        if checkpoint["vocab"] != data.vocab:
            raise SystemExit(f"{run_dir / 'last.pt'}: vocabulary differs from the corpus")
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        scaler.load_state_dict(checkpoint["scaler"])
        progress = Progress(**checkpoint["progress"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
        if checkpoint["rng"]["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(checkpoint["rng"]["cuda"])
        if runtime.world_size == 1:  # under DDP each rank restarts its rows from a zero state
            state = tuple(t.to(runtime.device) for t in checkpoint["carried_state"])

    trained = DistributedDataParallel(model) if runtime.world_size > 1 else model
    if runtime.is_main:
        print(
            f"{config.name}: {config.level} LSTM {config.layers}x{config.hidden_size}, "
            f"{model.parameter_count():,} parameters, vocab {len(data.vocab)}, "
            f"{data.train_tokens:,} train / {len(data.validation):,} held-out tokens "
            f"({len(data.corpus.train)}/{len(data.corpus.validation)} documents), "
            f"{total_steps} steps on {runtime.describe()}"
            + (f"; dropped {data.corpus.dropped}" if data.corpus.dropped else ""),
            flush=True,
        )

    rows = epoch_rows(data, config, progress.epoch, runtime)
    bar = tqdm(
        total=total_steps,
        initial=progress.step,
        disable=not (runtime.is_main and config.progress),
        mininterval=1.0 if sys.stderr.isatty() else 30.0,
        dynamic_ncols=True,
    )
    started = time.monotonic() - progress.wall_time_s
    window_loss, window_steps, window_tokens, window_start = 0.0, 0, 0, time.monotonic()
    model.train()
    while progress.step < total_steps:
        if progress.batch_in_epoch == steps_per_epoch(data, config):
            progress.epoch += 1
            progress.batch_in_epoch = 0
            rows = epoch_rows(data, config, progress.epoch, runtime)
        if progress.batch_in_epoch == 0:
            state = model.initial_state(rows.shape[0], runtime.device)
        start = progress.batch_in_epoch * config.seq_len
        x = rows[:, start : start + config.seq_len].to(runtime.device, non_blocking=True)
        y = rows[:, start + 1 : start + 1 + config.seq_len].to(runtime.device, non_blocking=True)

        loss, state = train_step(trained, optimizer, scaler, x, y, state, config, runtime)
        clock["elapsed_s"] = time.monotonic() - started
        scheduler.step()

        progress.step += 1
        progress.batch_in_epoch += 1
        tokens = y.numel() * runtime.world_size
        progress.tokens_seen += tokens
        window_loss += loss.item()
        window_steps += 1
        window_tokens += tokens
        elapsed = time.monotonic() - started
        budget_spent = elapsed >= budget_s
        if runtime.world_size > 1 and budget_s < math.inf:  # every rank stops at the same step
            flag = torch.tensor([float(budget_spent)], device=runtime.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            budget_spent = bool(flag.item())
        speed = window_tokens / max(1e-9, time.monotonic() - window_start)
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", tok_s=f"{speed:,.0f}", refresh=False)

        budget_spent = budget_spent or progress.step == config.max_steps
        last_step = progress.step == total_steps or budget_spent
        if progress.step % config.eval_every == 0 or last_step:
            progress.wall_time_s = elapsed
            if runtime.is_main:
                validation = evaluate(model, data.validation, config, runtime)
                progress.history.append(
                    {
                        "step": progress.step,
                        "epoch": progress.step / steps_per_epoch(data, config),
                        "tokens_seen": progress.tokens_seen,
                        "train_loss": window_loss / window_steps,
                        "validation_loss": validation,
                        "lr": scheduler.get_last_lr()[0],
                        "elapsed_s": round(elapsed, 1),
                        "tokens_per_s": round(speed),
                    }
                )
                bar.write(
                    f"step {progress.step}: train {window_loss / window_steps:.4f} "
                    f"held-out {validation:.4f} nats/token ({validation / math.log(2):.3f} bits) "
                    f"{speed:,.0f} tok/s {elapsed / 60:.1f} min"
                )
                improved = validation < progress.best_validation
                if improved:
                    progress.best_validation = validation
                args = (model, optimizer, scheduler, scaler, state, progress, config, data, runtime)
                save_checkpoint(run_dir / "last.pt", *args)
                if improved:
                    save_checkpoint(run_dir / "best.pt", *args)
                write_curves(run_dir, progress.history)
            window_loss, window_steps, window_tokens, window_start = 0.0, 0, 0, time.monotonic()
        if budget_spent:
            if runtime.is_main:
                bar.write(f"stopping at step {progress.step}: step or time budget reached")
            break
    bar.close()
    if runtime.world_size > 1:
        dist.barrier()
        dist.destroy_process_group()
    return run_dir / "best.pt"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__)
    parser.add_argument("config", type=Path, nargs="?", help="TOML config (training/configs/)")
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    config = load_config(args.config, vars(args))
    try:
        best = train(config, resume=args.resume)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"best checkpoint: {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
