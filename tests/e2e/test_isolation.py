"""One request the model fails on, among concurrent ones (issue: an onnxruntime error while
priming one prompt failed every concurrent /lovecraft and showed users the raw message)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.fakediscord import FakeDiscord
from training.random_model import export_random_model

from .botharness import read_rows, running_bot
from .checks import assert_answered_once, assert_discord_valid, make_world, row_for
from .helpers import SETTLE

pytestmark = pytest.mark.timeout(120)

PLAIN = "The lovecraft model could not process this request."


async def test_a_prompt_the_model_fails_on_fails_alone_with_a_plain_message(
    fake: FakeDiscord, tmp_path: Path, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    # a real model whose embedding lacks the line break (its last id): ORT's Gather fails on
    # any prompt holding one, and the model never samples it
    export_random_model(models, "lovecraft", embedding_rows=-1)
    caplog.set_level(logging.INFO)
    w = make_world(fake)
    prompts = {w.alice: "The door opened", w.bob: "The door\nopened", w.carol: "The hall opened"}
    async with running_bot(fake, models, db_path):
        traces = await asyncio.gather(
            *(
                fake.run_command(
                    user=user,
                    guild=w.guild,
                    name="lovecraft",
                    options={"prompt": prompt, "length": 60, "seed": 1},
                )
                for user, prompt in prompts.items()
            )
        )
        for trace in traces:
            await trace.wait_final(settle_s=SETTLE)
    good_a, failed, good_c = traces
    rows = read_rows(db_path)
    for trace in traces:
        assert_answered_once(trace)
        assert_discord_valid(trace.events)
        shown = "\n".join(e.content for e in trace.events)
        assert "ONNXRuntime" not in shown and "Gather" not in shown, shown
    for trace in (good_a, good_c):
        assert not trace.ephemeral and "opened" in trace.final_text
        assert row_for(rows, trace)["status"] == "ok"
    # the echoed prompt is closed with a note; the plain reason follows, privately
    assert failed.final_text.endswith(PLAIN), failed.final_text
    assert row_for(rows, failed)["status"] == "error"
    logged = [
        r
        for r in caplog.records
        if r.levelno == logging.ERROR and failed.interaction_id in r.getMessage()
    ]
    assert logged, "no error logged with the request id"
    assert "Gather" in (logged[0].exc_text or ""), logged[0].exc_text
