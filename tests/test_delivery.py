"""How sampled tokens reach the event loop: few wake-ups, first and last tokens at once."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

import bot.engine.scheduler as scheduler_module
from bot.engine.bundle import ModelBundle
from bot.engine.sampling import SamplingParams
from bot.engine.scheduler import Scheduler
from training.random_model import export_random_model

PARAMS = SamplingParams(temperature=1.0)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> ModelBundle:
    folder: Path = tmp_path_factory.mktemp("delivery")
    return ModelBundle.load(export_random_model(folder, "rand", ban_eos=True))


def count_wakeups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    loop = asyncio.get_running_loop()
    calls = [0]
    real = loop.call_soon_threadsafe

    def counting(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counting)
    return calls


async def test_a_stream_wakes_its_loop_for_first_and_last_token_only_within_the_interval(
    bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an interval longer than the run, 400 tokens take exactly two wake-ups, and every
    token arrives, in order, the same as without coalescing."""
    request = {"prompt": [3, 4], "params": PARAMS, "seed": 7, "max_tokens": 400}
    sched = Scheduler(bundle)
    monkeypatch.setattr(scheduler_module, "WAKE_INTERVAL_S", 0.0)  # every step wakes
    every = [t async for t in sched.submit(**request)]
    monkeypatch.setattr(scheduler_module, "WAKE_INTERVAL_S", 3600.0)
    calls = count_wakeups(monkeypatch)
    coalesced = [t async for t in sched.submit(**request)]
    wakeups = calls[0]
    await sched.aclose()
    assert len(every) == 400 and coalesced == every
    assert wakeups == 2


async def test_first_token_arrives_while_the_worker_is_still_busy(
    bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Time to first text: the first token is not held back for the interval."""
    monkeypatch.setattr(scheduler_module, "WAKE_INTERVAL_S", 3600.0)
    gate, calls = threading.Event(), [0]
    real_run = bundle.run

    def run(*args):
        calls[0] += 1
        if calls[0] == 3:  # priming and one step done: hold the worker
            assert gate.wait(30)
        return real_run(*args)

    monkeypatch.setattr(bundle, "run", run)
    sched = Scheduler(bundle)
    stream = sched.submit([3], params=PARAMS, seed=1, max_tokens=50)
    first = await asyncio.wait_for(stream.__anext__(), 30)  # before the worker is let go
    gate.set()
    rest = [t async for t in stream]
    await sched.aclose()
    assert isinstance(first, int) and len(rest) == 49
