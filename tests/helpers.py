"""Factories shared by the unit tests: a tiny trainer config, a run's last checkpoint, a
settable clock, a names report row, a request-log row, a polling wait. (The end-to-end tests
have theirs in tests/e2e/helpers.py; the request-log databases, tests/storage_db.py.)"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.storage import RequestRow
from tests.tiny_corpora import write_prose
from training.checkpoint import Checkpoint
from training.checkpoint import load as load_checkpoint
from training.config import TrainConfig
from training.report import NameRow


def tiny_config(tmp_path: Path, **overrides: object) -> TrainConfig:
    """A prose run that trains for seconds on a tiny corpus written under ``tmp_path``."""
    values: dict[str, object] = {
        "name": "tiny",
        "corpus_kind": "prose",
        "corpus_path": str(write_prose(tmp_path / "corpus")),
        "validation_fraction": 0.25,
        "embedding_size": 16,
        "hidden_size": 32,
        "layers": 2,
        "dropout": 0.1,
        "batch_size": 4,
        "seq_len": 16,
        "eval_batch_size": 2,
        "warmup_steps": 5,
        "epochs": 0.5,
        "eval_every": 10,
        "out_dir": str(tmp_path / "runs"),
        "threads": 1,
        "progress": False,
    }
    values.update(overrides)
    return TrainConfig(**values)  # type: ignore[arg-type]  # values typed by the test


def last(run: Path) -> Checkpoint:
    """The checkpoint a run wrote last."""
    return load_checkpoint(run / "last.safetensors")


class Clock:
    """A clock a test sets by hand (``clock.now += 4``)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def name_row(temperature: float, style: str, **figures: float) -> NameRow:
    """A names report row of 100 samples with plain figures; ``figures`` sets the rest."""
    return NameRow(
        temperature=temperature,
        style=style,
        samples=100,
        empty_share=0.0,
        novelty=1.0,
        duplicates=0.0,
        mean_length=3.0,
        train_mean_length=3.0,
        length_tv=0.1,
        **figures,  # type: ignore[arg-type]  # the row's optional float figures
    )


def request_row(user_id: int, **fields: object) -> RequestRow:
    """A request-log row of ``user_id``: a successful /poem unless ``fields`` say otherwise."""
    values: dict[str, object] = {"command": "poem", "status": "ok", **fields}
    return RequestRow(user_id=user_id, **values)  # type: ignore[arg-type]  # typed by the test


async def until(predicate: object, timeout: float = 60.0) -> None:
    """Wait (polling) until ``predicate()`` (or the coroutine it returns) holds; generous
    timeouts, no speed assumption."""
    deadline = time.monotonic() + timeout
    while True:
        held = predicate()  # type: ignore[operator]
        if asyncio.iscoroutine(held):
            held = await held
        if held:
            return
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.005)
