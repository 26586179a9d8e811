"""Model bundles, the engine, and the continuous-batching scheduler."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from bot.engine.bundle import ModelBundle, ModelLoadError
from bot.engine.engine import Engine
from bot.engine.sampling import SamplingParams
from bot.engine.scheduler import Scheduler
from bot.generators.base import Busy, GenerationError, InvalidRequest, UnknownModel
from training.random_model import export_random_model

PARAMS = SamplingParams(temperature=1.0)


@pytest.fixture(scope="module")
def model_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2x64 model whose sampling is far from greedy, so seeds matter."""
    return export_random_model(tmp_path_factory.mktemp("sched"), "rand", layers=2, hidden=64)


@pytest.fixture
def bundle(model_json: Path) -> ModelBundle:
    return ModelBundle.load(model_json)


async def tokens_of(stream) -> list[int]:
    return [t async for t in stream]


def submit_together(sched: Scheduler, requests: list[dict]) -> list:
    """Submit so that the worker sees all requests at once (they prime and step together):
    it takes the scheduler's lock before it looks at the queue."""
    with sched._lock:
        return [sched.submit(**r) for r in requests]


# -- bundle and engine loading -----------------------------------------------------------------


def copy_model(src: Path, dst: Path, name: str) -> Path:
    for suffix in (".json", ".onnx"):
        shutil.copy(src.with_suffix(suffix), dst / f"{name}{suffix}")
    return dst / f"{name}.json"


def test_bundle_loads_tiny_model(tiny_models_dir: Path) -> None:
    bundle = ModelBundle.load(tiny_models_dir / "lovecraft.json")
    h, c = bundle.initial_state(3)
    logits, h2, _ = bundle.run(np.ones((3, 5), np.int64), h, c)
    assert logits.shape == (3, bundle.meta.vocab_size) and h2.shape == h.shape
    assert bundle.training_names is None and bundle.ngram_hashes is None
    names = ModelBundle.load(tiny_models_dir / "names.json").training_names
    assert names and all(n == n.casefold() for n in names)


def test_missing_onnx_named(model_json: Path, tmp_path: Path) -> None:
    json_path = copy_model(model_json, tmp_path, "rand")
    (tmp_path / "rand.onnx").unlink()
    with pytest.raises(ModelLoadError, match=r"rand\.onnx: model file does not exist"):
        ModelBundle.load(json_path)


def test_hash_mismatch_named(model_json: Path, tmp_path: Path) -> None:
    json_path = copy_model(model_json, tmp_path, "rand")
    with (tmp_path / "rand.onnx").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelLoadError, match=r"rand\.onnx: sha256 .* does not match"):
        ModelBundle.load(json_path)


def test_corrupt_onnx_named(model_json: Path, tmp_path: Path) -> None:
    json_path = copy_model(model_json, tmp_path, "rand")
    (tmp_path / "rand.onnx").write_bytes(b"not a model at all")
    meta = json.loads(json_path.read_text())
    meta["onnx_sha256"] = hashlib.sha256(b"not a model at all").hexdigest()
    json_path.write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match=r"rand\.onnx: not a loadable ONNX model"):
        ModelBundle.load(json_path)


def test_vocab_mismatch_named(tmp_path: Path) -> None:
    json_path = export_random_model(tmp_path, "wide", extra_vocab=3)
    with pytest.raises(ModelLoadError, match=r"wide\.onnx: logits have \d+ entries .* wide\.json"):
        ModelBundle.load(json_path)


def test_bad_metadata_and_wrong_name(model_json: Path, tmp_path: Path) -> None:
    json_path = copy_model(model_json, tmp_path, "other")
    with pytest.raises(ModelLoadError, match=r"other\.json: field 'name'"):
        ModelBundle.load(json_path)
    json_path.write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"other\.json: field '<file>': is not valid JSON"):
        ModelBundle.load(json_path)


def test_engine_skips_bad_model_unless_strict(tiny_models_dir: Path, tmp_path: Path) -> None:
    for f in tiny_models_dir.iterdir():
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "poems.onnx").write_bytes(b"broken")
    engine = Engine.load(tmp_path)
    assert sorted(engine.models) == ["fables", "lovecraft", "names"]
    assert "poems.onnx" in engine.load_errors["poems"]
    with pytest.raises(UnknownModel, match="failed to load"):
        engine.scheduler("poems")
    with pytest.raises(UnknownModel, match="not installed"):
        engine.scheduler("klingon")
    with pytest.raises(ModelLoadError, match=r"poems\.onnx"):
        Engine.load(tmp_path, strict=True)
    assert list(Engine.load(tmp_path, only=["names"]).models) == ["names"]
    with pytest.raises(ModelLoadError, match="does not exist"):
        Engine.load(tmp_path / "nope")


def test_describe_has_figures(tiny_models_dir: Path) -> None:
    figures = Engine.load(tiny_models_dir).describe()
    assert set(figures) == {"fables", "lovecraft", "names", "poems"}
    assert figures["names"]["styles"] == ["english", "gulong", "jinyong"]
    assert figures["lovecraft"]["validation_loss_nats"] > 0
    assert figures["fables"]["level"] == "word"


# -- scheduling --------------------------------------------------------------------------------


async def test_batched_equals_alone_for_32_seeds(
    bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same seed -> same tokens alone or in a batch of 32, where half join a running batch and
    requests leave at different steps."""
    prompts = [[1 + (i % 7)] * (2 + i % 5) for i in range(32)]  # 5 prompt lengths, all > 1
    lengths = [20 + (i * 7) % 40 for i in range(32)]  # leave at different steps
    requests = [
        {"prompt": prompts[i], "params": PARAMS, "seed": i, "max_tokens": lengths[i]}
        for i in range(32)
    ]
    alone = []
    for request in requests:
        sched = Scheduler(bundle)
        alone.append(await tokens_of(sched.submit(**request)))
        await sched.aclose()

    # The worker is held in its first step of the first half until the second half is queued,
    # so the second half joins a batch that is running, however fast the machine is.
    running, queued = threading.Event(), threading.Event()
    shapes: list[tuple[int, ...]] = []
    real_run = bundle.run

    def gated(tokens, h, c):
        if tokens.shape == (16, 1) and not running.is_set():
            running.set()
            queued.wait(timeout=60)
        shapes.append(tokens.shape)
        return real_run(tokens, h, c)

    monkeypatch.setattr(bundle, "run", gated)
    sched = Scheduler(bundle)
    early = [asyncio.ensure_future(tokens_of(s)) for s in submit_together(sched, requests[:16])]
    assert await asyncio.to_thread(running.wait, 60)
    late = [asyncio.ensure_future(tokens_of(sched.submit(**r))) for r in requests[16:]]
    queued.set()
    batched = await asyncio.gather(*early, *late)
    await sched.aclose()
    steps = [batch for batch, width in shapes if width == 1]  # priming calls are wider
    assert steps[0] == 16 and max(steps) == 32  # every early request was still running
    assert len({tuple(t) for t in alone}) == 32  # seeds really differ
    assert batched == alone


async def test_batch_rows_bitwise_equal_single_rows(bundle: ModelBundle) -> None:
    """Why batching cannot flip a sample: ORT gives each row the same bits at any batch size."""
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, bundle.meta.vocab_size, size=(32, 1))
    h = rng.normal(size=(2, 32, 64)).astype(np.float32)
    c = rng.normal(size=(2, 32, 64)).astype(np.float32)
    batch_logits, batch_h, _ = bundle.run(tokens, h, c)
    for i in (0, 5, 31):
        logits, h_i, _ = bundle.run(
            tokens[i : i + 1], h[:, i : i + 1].copy(), c[:, i : i + 1].copy()
        )
        assert np.array_equal(logits[0], batch_logits[i])
        assert np.array_equal(h_i[:, 0], batch_h[:, i])


@pytest.fixture(scope="module")
def wide_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2x256: matrices large enough for onnxruntime to split work over intra-op threads."""
    return export_random_model(tmp_path_factory.mktemp("wide"), "wide", layers=2, hidden=256)


@pytest.mark.parametrize("threads", [1, 2])
async def test_same_seed_same_text_alone_or_batched_with_engine_threads(
    wide_json: Path, threads: int
) -> None:
    engine = Engine.load(wide_json.parent, threads=threads)
    bundle = engine.models["wide"]
    assert bundle.session.get_session_options().intra_op_num_threads == threads
    requests = [
        {"prompt": [1 + i % 5] * (1 + 3 * (i % 4)), "params": PARAMS, "seed": i, "max_tokens": 30}
        for i in range(12)
    ]
    sched = engine.scheduler("wide")
    alone = [await tokens_of(sched.submit(**r)) for r in requests]
    together = await asyncio.gather(*map(tokens_of, submit_together(sched, requests)))
    await engine.aclose()
    assert sched.max_batch_seen == 12
    assert len({tuple(t) for t in alone}) == 12
    assert together == alone
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, bundle.meta.vocab_size, size=(32, 4))
    h, c = (rng.normal(size=(2, 32, 256)).astype(np.float32) for _ in range(2))
    batch_logits, batch_h, _ = bundle.run(tokens, h, c)
    for i in range(32):
        logits, h_i, _ = bundle.run(
            tokens[i : i + 1], h[:, i : i + 1].copy(), c[:, i : i + 1].copy()
        )
        assert np.array_equal(logits[0], batch_logits[i])
        assert np.array_equal(h_i[:, 0], batch_h[:, i])


async def test_priming_is_one_call_and_inference_off_loop(
    bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    shapes: list[tuple[int, ...]] = []
    real_run = bundle.run

    def spy(tokens, h, c):
        threads.append(threading.current_thread())
        shapes.append(tokens.shape)
        return real_run(tokens, h, c)

    monkeypatch.setattr(bundle, "run", spy)
    sched = Scheduler(bundle)
    out = await tokens_of(sched.submit([3] * 50, params=PARAMS, seed=1, max_tokens=4))
    await sched.aclose()
    assert len(out) == 4
    assert shapes == [(1, 50), (1, 1), (1, 1), (1, 1)]
    assert threading.main_thread() not in threads


async def test_stop_token_and_token_limit(bundle: ModelBundle) -> None:
    sched = Scheduler(bundle)
    free = await tokens_of(sched.submit([1], params=PARAMS, seed=3, max_tokens=30))
    assert len(free) == 30
    stop = free[10]
    stopped = await tokens_of(
        sched.submit([1], params=PARAMS, seed=3, max_tokens=30, stop_ids={stop})
    )
    assert stopped == free[: free.index(stop) + 1]
    with pytest.raises(InvalidRequest):
        sched.submit([1], params=PARAMS, seed=3, max_tokens=0)
    with pytest.raises(InvalidRequest):
        sched.submit([], params=PARAMS, seed=3, max_tokens=5)
    await sched.aclose()
    assert sched.load == 0


async def test_queue_full_raises_busy_and_cancel_frees_slot(bundle: ModelBundle) -> None:
    sched = Scheduler(bundle, max_batch=1, max_queue=1)
    a = sched.submit([1], params=PARAMS, seed=1, max_tokens=10_000)
    b = sched.submit([1], params=PARAMS, seed=2, max_tokens=10_000)
    with pytest.raises(Busy, match="busy"):
        sched.submit([1], params=PARAMS, seed=3, max_tokens=5)
    await a.__anext__()
    a.cancel()
    assert sched.load == 1  # freed at once, before the worker's next step
    c = sched.submit([1], params=PARAMS, seed=3, max_tokens=5)
    await b.aclose()
    assert len(await tokens_of(c)) == 5
    await sched.aclose()
    assert sched.load == 0


async def test_cancelling_consumer_task_frees_slot(bundle: ModelBundle) -> None:
    sched = Scheduler(bundle, max_batch=1, max_queue=0)
    stream = sched.submit([1], params=PARAMS, seed=1, max_tokens=10_000)
    got: list[int] = []

    async def consume() -> None:  # its only await is the stream's: cancellation lands there
        async for token in stream:
            got.append(token)

    task = asyncio.create_task(consume())
    while len(got) < 3:
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sched.load == 0
    assert len(await tokens_of(sched.submit([1], params=PARAMS, seed=2, max_tokens=3))) == 3
    await sched.aclose()


async def test_model_failure_reaches_caller_and_worker_survives(
    bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    sched = Scheduler(bundle)
    real_run = bundle.run
    monkeypatch.setattr(bundle, "run", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(GenerationError, match="could not process") as failed:
        await tokens_of(sched.submit([1], params=PARAMS, seed=1, max_tokens=5))
    assert "boom" not in str(failed.value) and str(failed.value.__cause__) == "boom"
    monkeypatch.setattr(bundle, "run", real_run)
    assert len(await tokens_of(sched.submit([1], params=PARAMS, seed=1, max_tokens=5))) == 5
    await sched.aclose()
    assert sched.load == 0


async def test_aclose_ends_running_requests(bundle: ModelBundle) -> None:
    sched = Scheduler(bundle)
    stream = sched.submit([1], params=PARAMS, seed=1, max_tokens=10_000)
    await stream.__anext__()
    await sched.aclose()
    with pytest.raises(GenerationError, match=r"^The engine is shutting down\.$"):
        await tokens_of(stream)
    with pytest.raises(GenerationError, match="shutting down"):
        sched.submit([1], params=PARAMS, seed=1, max_tokens=5)


async def test_unknown_and_opening_tokens_are_never_sampled(tiny_models_dir: Path) -> None:
    bundle = ModelBundle.load(tiny_models_dir / "names.json")
    special = bundle.meta.special_tokens
    never = {bundle.meta.vocab.index(t) for t in (special.unknown, special.bos)}
    never |= {bundle.meta.vocab.index(t) for t in special.styles.values()}
    scheduler = Scheduler(bundle)
    try:
        hot = SamplingParams(temperature=5.0)  # nearly uniform: every token would show up
        streams = [scheduler.submit([1], params=hot, seed=s, max_tokens=200) for s in range(4)]
        sampled = {t for stream in streams for t in await tokens_of(stream)}
    finally:
        await scheduler.aclose()
    assert len(sampled) > 10
    assert not sampled & never


# -- one failing request never fails its batch-mates ----------------------------------------


@pytest.fixture(scope="module")
def fragile_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model whose embedding lacks the last id: ORT's Gather raises on that id only."""
    return export_random_model(
        tmp_path_factory.mktemp("fragile"), "fragile", layers=2, hidden=64, embedding_rows=-1
    )


async def outcome(stream) -> tuple[list[int], str | None, str | None]:
    """Tokens received, then the user's message and its cause if the request failed."""
    got: list[int] = []
    try:
        async for token in stream:
            got.append(token)
    except GenerationError as exc:
        return got, str(exc), str(exc.__cause__)
    return got, None, None


async def test_failed_priming_fails_only_its_own_request(
    fragile_json: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Three prompts of one length are primed in one call; one holds the id ORT rejects."""
    bundle = ModelBundle.load(fragile_json)
    bad = bundle.meta.vocab_size - 1
    prompts = [[5, 6, 7, 8], [9, 10, bad, 11], [12, 13, 14, 15]]
    requests = [
        {"prompt": p, "params": PARAMS, "seed": i, "max_tokens": 30} for i, p in enumerate(prompts)
    ]
    sched = Scheduler(bundle)
    alone = [await outcome(sched.submit(**r)) for r in requests]
    batch_calls = sched.steps
    together = await asyncio.gather(*map(outcome, submit_together(sched, requests)))
    await sched.aclose()
    assert together == alone
    (first, _, _), (failed, message, cause), (third, _, _) = together
    assert len(first) == len(third) == 30 and failed == []
    assert message == "The fragile model could not process this request."
    assert "Gather" in cause and "out of data bounds" in cause
    assert "retrying one at a time" in caplog.text  # the batched call did fail
    # calls that ran: the survivors primed one by one, then 29 steps with both in the batch
    assert sched.steps - batch_calls == 2 + 29
    assert sched.load == 0


async def test_failed_step_fails_only_the_sequence_that_fed_the_bad_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """16 seeded requests step together; those that sample the id ORT rejects fail at the next
    step, exactly as they do alone, and the others' tokens are unchanged."""
    bundle = ModelBundle.load(
        export_random_model(
            tmp_path, "fragile", layers=2, hidden=64, embedding_rows=-1, unembedded_bias=0.0
        )
    )
    bad = bundle.meta.vocab_size - 1
    requests = [
        {"prompt": [5, 6], "params": PARAMS, "seed": i, "max_tokens": 40} for i in range(16)
    ]
    sched = Scheduler(bundle)
    alone = [await outcome(sched.submit(**r)) for r in requests]
    together = await asyncio.gather(*map(outcome, submit_together(sched, requests)))
    await sched.aclose()
    assert together == alone
    failed = [got for got, message, _ in together if message]
    survived = [got for got, message, _ in together if not message]
    assert failed and survived  # the premise: some requests sample the bad id, some never do
    assert all(got[-1] == bad and bad not in got[:-1] for got in failed)
    assert all(len(got) == 40 and bad not in got for got in survived)
    assert "a batched call of 16 sequences failed" in caplog.text
    assert sched.max_batch_seen == 16 and sched.load == 0
