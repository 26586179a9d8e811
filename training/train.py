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

import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from training.checkpoint import Progress
from training.config import ConfigError, TrainConfig, command_line
from training.data import CorpusError
from training.dataset import epoch_rows, prepare_data
from training.eval_step import Window, evaluate_and_checkpoint
from training.finetune import InitError, Shipped, grow_rows, load_shipped
from training.models import State, build_model
from training.runtime import Runtime, setup_runtime
from training.session import Session, describe, restore_last

# Here: config, schedule, setup, one step and the loop. Elsewhere, one job each: the data
# (dataset.py), the run's state and its checkpoints (session.py), evaluate and checkpoint
# (eval_step.py), device, DDP and mixed precision (runtime.py).

# ---------------------------------------------------------------------------------------------
# Config: a shipped model to start from sets the sizes


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


# ---------------------------------------------------------------------------------------------
# Schedule


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


def budget_clock(config: TrainConfig) -> Callable[[], float]:
    """What ``max_minutes`` and the time-based decay count: wall or process CPU seconds."""
    return {"wall": time.monotonic, "cpu": time.process_time}[config.budget_clock]


# ---------------------------------------------------------------------------------------------
# Setup: data -> model -> optimiser and schedule -> resume


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
        trained=runtime.wrap(model),
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
        restore_last(session)
    return session


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
# The loop


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
        if session.budget_s < math.inf:  # all ranks stop together
            budget_spent = runtime.any_rank(budget_spent)
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
    runtime.finish()
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
