"""A model failure that concerns one request stays that request's: it is handled as a model
failure (not as a scheduler bug failing everything in flight), whether the request fails
while priming next to others of another prompt length or while stepping alone."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.engine.bundle import ModelBundle
from bot.engine.sampling import SamplingParams
from bot.engine.scheduler import Scheduler
from bot.generators.base import GenerationError
from training.random_model import export_random_model

PARAMS = SamplingParams(temperature=1.0)
STEP_FAILED = "scheduler step failed"  # the log line of the worker's last-resort handler


@pytest.fixture(scope="module")
def fragile_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model whose embedding lacks the last id: ORT's Gather raises on that id only."""
    return export_random_model(
        tmp_path_factory.mktemp("fragile"), "fragile", layers=1, hidden=32, embedding_rows=-1
    )


async def outcome(stream) -> tuple[list[int], str | None]:
    got: list[int] = []
    try:
        async for token in stream:
            got.append(token)
    except GenerationError as exc:
        return got, str(exc)
    return got, None


async def test_a_request_failing_alone_is_a_model_failure_not_a_scheduler_bug(
    fragile_json: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = ModelBundle.load(fragile_json)
    bad = bundle.meta.vocab_size - 1
    sched = Scheduler(bundle)
    with caplog.at_level(logging.WARNING):
        got, message = await outcome(sched.submit([3, bad], params=PARAMS, seed=1, max_tokens=5))
    assert (got, message) == ([], "The fragile model could not process this request.")
    assert STEP_FAILED not in caplog.text
    healthy = await outcome(sched.submit([3, 4], params=PARAMS, seed=1, max_tokens=5))
    assert len(healthy[0]) == 5 and healthy[1] is None
    await sched.aclose()
    assert sched.load == 0


async def test_priming_that_fails_for_one_prompt_length_spares_the_other(
    fragile_json: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Prompts of lengths 3 and 2 are primed in separate calls of the same step; the second
    holds the id ORT rejects."""
    bundle = ModelBundle.load(fragile_json)
    bad = bundle.meta.vocab_size - 1
    sched = Scheduler(bundle)
    healthy = {"prompt": [5, 6, 7], "params": PARAMS, "seed": 2, "max_tokens": 20}
    alone = await outcome(sched.submit(**healthy))
    with sched._lock:  # the worker sees both at once
        streams = [
            sched.submit(**healthy),
            sched.submit([9, bad], params=PARAMS, seed=3, max_tokens=20),
        ]
    with caplog.at_level(logging.WARNING):
        together = await asyncio.gather(*map(outcome, streams))
    await sched.aclose()
    assert together[0] == alone and len(alone[0]) == 20
    assert together[1] == ([], "The fragile model could not process this request.")
    assert STEP_FAILED not in caplog.text
    assert sched.load == 0
