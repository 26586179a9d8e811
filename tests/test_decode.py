"""The one sampling loop: what the evaluator measures is what the scheduler serves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.engine.bundle import ModelBundle
from bot.engine.decode import Row, generate, sample_rows
from bot.engine.sampling import SamplingParams
from bot.engine.scheduler import Scheduler
from training import eval_stats

SEED, TEMPERATURE = 11, 0.8


def starts_for(bundle: ModelBundle) -> list[list[int]]:
    """Starts as the evaluator and the generators build them: ``<eos>`` then the opening
    token (``<bos>``, or a names model's style token) and a prompt; three prompt lengths,
    one start repeated (same prompt, different seeds)."""
    tok = bundle.tokenizer
    styles = sorted(bundle.meta.special_tokens.styles)
    opening = [tok.eos_id, tok.style_id(styles[0]) if styles else tok.bos_id]
    texts = ["the", "the", "a fox", "", "he said the"]
    return [[*opening, *tok.encode(t).ids] for t in texts]


async def served(
    bundle: ModelBundle, starts: list[list[int]], params: SamplingParams, max_tokens: int
) -> list[list[int]]:
    """What the scheduler streams for each start, submitted together (primed and stepped
    as one batch), request ``i`` seeded as the evaluator seeds sample ``i``."""
    sched = Scheduler(bundle)
    milli = round(TEMPERATURE * 1000)
    with sched._lock:  # the worker sees every request at once
        streams = [
            sched.submit(
                start,
                params=params,
                seed=[SEED, milli, 0, i],
                max_tokens=max_tokens,
                stop_ids={bundle.tokenizer.eos_id},
            )
            for i, start in enumerate(starts)
        ]
    tokens = [[t async for t in stream] for stream in streams]
    await sched.aclose()
    return tokens


async def evaluated_and_served(
    bundle: ModelBundle, max_tokens: int
) -> tuple[list[list[int]], list[bool], list[list[int]]]:
    """The evaluator's samples (ids, ended) and the scheduler's streams for the same starts."""
    starts = starts_for(bundle)
    params = eval_stats.params_at(bundle, TEMPERATURE)
    rngs = eval_stats.make_rngs(SEED, TEMPERATURE, len(starts))
    ids, ended = eval_stats.sample_batch(
        bundle, starts, params, rngs, max_tokens, desc="", progress=False
    )
    return ids, ended, await served(bundle, starts, params, max_tokens)


@pytest.mark.parametrize("name", ["lovecraft", "names", "fables"])
async def test_evaluator_samples_are_what_the_scheduler_serves(
    tiny_models_dir: Path, name: str
) -> None:
    bundle = ModelBundle.load(tiny_models_dir / f"{name}.json")
    eos = bundle.tokenizer.eos_id
    assert eval_stats.params_at(bundle, TEMPERATURE).repeat_limit > 0  # the guard must agree
    max_tokens = 40
    ids, ended, streams = await evaluated_and_served(bundle, max_tokens)
    assert ids == [s[:-1] if s[-1] == eos else s for s in streams]
    assert ended == [s[-1] == eos for s in streams]
    assert ids[0] != ids[1]  # the same start with two seeds: the seeds are really used
    assert all(0 < len(s) <= max_tokens for s in streams)


async def test_evaluator_and_scheduler_both_end_at_eos_and_at_the_limit(
    tiny_models_dir: Path,
) -> None:
    """Names end at ``<eos>``, long prose at the token limit: both endings are compared."""
    for name, max_tokens, want_ended in (("names", 30, True), ("lovecraft", 12, False)):
        bundle = ModelBundle.load(tiny_models_dir / f"{name}.json")
        ids, ended, streams = await evaluated_and_served(bundle, max_tokens)
        assert want_ended in ended, (name, ended)
        assert ids == [s[:-1] if e else s for s, e in zip(streams, ended, strict=True)]


def test_generate_alone_equals_batched(tiny_models_dir: Path) -> None:
    """``generate`` gives a row the same tokens in a batch of rows leaving at different
    steps as on its own."""
    bundle = ModelBundle.load(tiny_models_dir / "poems.json")
    starts = starts_for(bundle)
    params = SamplingParams(temperature=1.0, repeat_limit=3)
    stop = frozenset({bundle.tokenizer.eos_id})

    def rows(indices: list[int]) -> list[Row]:
        return [
            Row(np.asarray(starts[i]), params, np.random.default_rng(i), 10 + 7 * i, stop)
            for i in indices
        ]

    batch = rows(list(range(len(starts))))
    steps: list[None] = []
    generate(bundle, batch, on_step=lambda: steps.append(None))
    assert len(steps) == max(len(r.history) for r in batch)
    for i, row in enumerate(batch):
        (alone,) = rows([i])
        generate(bundle, [alone])
        assert alone.history == row.history and alone.finished
        assert len(row.history) == row.max_tokens or row.history[-1] in stop


def test_a_row_done_before_its_logits_arrive_gets_no_token() -> None:
    """A request cancelled while its step ran is done when the logits come back: it samples
    nothing and is not reported as sampled; the rows beside it sample as usual."""
    params = SamplingParams(temperature=1.0)
    rows = [Row(np.array([1]), params, np.random.default_rng(i), 10) for i in range(3)]
    rows[1].finished = True
    sampled = sample_rows(np.zeros((3, 5), np.float32), np.array([0]), rows)
    assert sampled == [rows[0], rows[2]]
    assert [len(row.history) for row in rows] == [1, 0, 1]
