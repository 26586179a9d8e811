"""What a request may ask of the scheduler and how many fit: token limits and prompt ids at
their edges, capacity (running plus waiting), and a finished or failed stream staying ended."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from bot.engine import scheduler as scheduler_module
from bot.engine.bundle import ModelBundle
from bot.engine.sampling import SamplingParams
from bot.engine.scheduler import MAX_TOKENS_PER_REQUEST, Scheduler
from bot.generators.base import Busy, GenerationError, InvalidRequest
from training.random_model import export_random_model

PARAMS = SamplingParams(temperature=1.0)


@pytest.fixture(scope="module")
def model_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_random_model(tmp_path_factory.mktemp("requests"), "rand", layers=1, hidden=32)


@pytest.fixture(scope="module")
def endless_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model that (nearly) never samples its end token: streams run to their limit."""
    folder = tmp_path_factory.mktemp("endless")
    return export_random_model(folder, "endless", layers=1, hidden=32, ban_eos=True)


@pytest.fixture
async def sched(model_json: Path):
    scheduler = Scheduler(ModelBundle.load(model_json), max_batch=2, max_queue=1)
    yield scheduler
    await scheduler.aclose()


async def tokens_of(stream) -> list[int]:
    return [t async for t in stream]


async def test_token_limits_from_1_to_10_000(sched: Scheduler) -> None:
    assert len(await tokens_of(sched.submit([1], params=PARAMS, seed=1, max_tokens=1))) == 1
    longest = sched.submit([1], params=PARAMS, seed=1, max_tokens=MAX_TOKENS_PER_REQUEST)
    await longest.__anext__()
    await longest.aclose()
    for bad in (0, MAX_TOKENS_PER_REQUEST + 1):
        with pytest.raises(InvalidRequest, match=r"^Token limit must be 1-10000\.$"):
            sched.submit([1], params=PARAMS, seed=1, max_tokens=bad)
    with pytest.raises(InvalidRequest, match=r"^Nothing to start from \(empty prompt\)\.$"):
        sched.submit([], params=PARAMS, seed=1, max_tokens=5)


async def test_prompt_ids_must_be_in_the_vocabulary(sched: Scheduler) -> None:
    vocab = sched.bundle.meta.vocab_size
    ok = await tokens_of(sched.submit([0, vocab - 1], params=PARAMS, seed=1, max_tokens=2))
    assert len(ok) == 2
    for bad in ([vocab], [-1], [[1, 2]]):
        with pytest.raises(ValueError, match=rf"^prompt token ids must be in \[0, {vocab}\)$"):
            sched.submit(bad, params=PARAMS, seed=1, max_tokens=2)
    assert sched.load == 0  # refused requests take no slot


async def test_capacity_is_the_batch_plus_the_queue(sched: Scheduler) -> None:
    streams = [sched.submit([1], params=PARAMS, seed=s, max_tokens=10_000) for s in range(3)]
    assert sched.load == 3
    with pytest.raises(Busy, match=r"^The model is busy right now; please try again"):
        sched.submit([1], params=PARAMS, seed=9, max_tokens=5)
    await streams[0].aclose()
    assert sched.load == 2
    streams.append(sched.submit([1], params=PARAMS, seed=9, max_tokens=5))
    assert len(await tokens_of(streams[-1])) == 5
    for stream in streams[1:3]:
        await stream.aclose()
    assert sched.load == 0


def test_a_scheduler_needs_room_for_one_running_request(model_json: Path) -> None:
    bundle = ModelBundle.load(model_json)
    Scheduler(bundle, max_batch=1, max_queue=0)
    for sizes in ({"max_batch": 0}, {"max_queue": -1}):
        with pytest.raises(ValueError, match=r"^max_batch must be >= 1 and max_queue >= 0$"):
            Scheduler(bundle, **sizes)


async def test_an_ended_stream_stays_ended(sched: Scheduler) -> None:
    stream = sched.submit([1], params=PARAMS, seed=1, max_tokens=3)
    assert len(await tokens_of(stream)) == 3
    assert await tokens_of(stream) == []  # iterating again yields nothing more
    stream.cancel()  # harmless after the end
    assert sched.load == 0


async def test_a_failed_stream_raises_once_then_ends(
    sched: Scheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object) -> None:
        raise RuntimeError("bad graph")

    monkeypatch.setattr(sched.bundle, "run", fail)
    stream = sched.submit([1], params=PARAMS, seed=1, max_tokens=3)
    with pytest.raises(GenerationError, match=r"^The rand model could not process this request\.$"):
        await stream.__anext__()
    assert await tokens_of(stream) == []
    assert sched.load == 0


async def test_seeds_as_tuples_give_each_candidate_its_own_text(sched: Scheduler) -> None:
    """/name seeds candidate i with (seed, i): different i, different tokens; same, same."""
    first = await tokens_of(sched.submit([1], params=PARAMS, seed=(5, 0), max_tokens=20))
    again = await tokens_of(sched.submit([1], params=PARAMS, seed=(5, 0), max_tokens=20))
    other = await tokens_of(sched.submit([1], params=PARAMS, seed=(5, 1), max_tokens=20))
    assert first == again != other
    assert np.asarray(first).max() < sched.bundle.meta.vocab_size


async def test_a_closed_stream_ends_at_once_and_leaves_the_batch(sched: Scheduler) -> None:
    """/stop or a deleted reply: iteration ends, and the next request runs on its own."""
    stream = sched.submit([1], params=PARAMS, seed=1, max_tokens=10_000)
    await stream.__anext__()
    await stream.aclose()
    assert await asyncio.wait_for(tokens_of(stream), 5) == []
    sched.max_batch_seen = 0
    assert len(await tokens_of(sched.submit([1], params=PARAMS, seed=2, max_tokens=5))) == 5
    assert sched.max_batch_seen == 1  # the closed request was not stepped with it


async def test_a_closed_scheduler_refuses_new_requests_plainly(model_json: Path) -> None:
    scheduler = Scheduler(ModelBundle.load(model_json))
    await scheduler.aclose()
    with pytest.raises(GenerationError, match=r"^The engine is shutting down\.$"):
        scheduler.submit([1], params=PARAMS, seed=1, max_tokens=5)
    assert scheduler.load == 0


async def test_the_batch_never_grows_past_max_batch(sched: Scheduler) -> None:
    """Three requests at once with room for two running: the third waits for a slot."""
    with sched._lock:  # the worker sees every request at once
        streams = [sched.submit([1], params=PARAMS, seed=s, max_tokens=20) for s in (1, 2, 3)]
    for stream in streams:
        await asyncio.wait_for(tokens_of(stream), 10)
    assert sched.max_batch_seen == 2


async def test_closing_one_stream_leaves_its_batch_mate_running(endless_json: Path) -> None:
    scheduler = Scheduler(ModelBundle.load(endless_json), max_batch=2)
    with scheduler._lock:
        closed = scheduler.submit([1], params=PARAMS, seed=1, max_tokens=2_000)
        mate = scheduler.submit([1], params=PARAMS, seed=2, max_tokens=2_000)
    await closed.__anext__()
    await closed.aclose()
    assert len(await asyncio.wait_for(tokens_of(mate), 60)) == 2_000
    await scheduler.aclose()


async def test_a_bug_in_the_sampling_loop_fails_its_request_and_the_worker_goes_on(
    sched: Scheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error outside the ORT calls (here: in a step) ends the requests in the batch with
    the user's message, gives their slots back, and the next request is served."""
    real_step, calls = scheduler_module.step, []

    def step_failing_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return real_step(*args)

    monkeypatch.setattr(scheduler_module, "step", step_failing_once)
    stream = sched.submit([1], params=PARAMS, seed=1, max_tokens=50)
    message = r"^The rand model could not process this request\.$"
    with pytest.raises(GenerationError, match=message) as failure:
        await asyncio.wait_for(tokens_of(stream), 10)
    assert isinstance(failure.value.__cause__, RuntimeError)
    assert sched.load == 0
    after = sched.submit([1], params=PARAMS, seed=2, max_tokens=5)
    assert len(await asyncio.wait_for(tokens_of(after), 10)) == 5
