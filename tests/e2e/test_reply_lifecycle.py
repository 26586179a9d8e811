"""A reply's life after the "thinking…" placeholder: deleted by a member mid-stream, the
engine busy, the model failing mid-stream. Each ends cleanly: no placeholder left, no
cursor left, one row with a status that says what happened.

``ModelControl`` paces or holds the model itself, so each step is ordered by events, not by
how fast this machine generates."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.discord.serving import FAILED_NOTE
from tests.fakediscord import FakeDiscord, InteractionTrace

from .botharness import read_rows, running_bot
from .checks import (
    CURSOR,
    assert_answered_once,
    assert_discord_valid,
    assert_one_row_each,
    make_world,
    row_for,
)
from .helpers import SETTLE, ModelControl

pytestmark = pytest.mark.timeout(120)

APOLOGY = "Sorry"


async def _rows(db_path: Path, n: int, timeout: float = 20) -> list[dict[str, object]]:
    async def _wait() -> list[dict[str, object]]:
        while len(rows := read_rows(db_path)) < n:
            await asyncio.sleep(0.05)
        return rows

    return await asyncio.wait_for(_wait(), timeout)


def _nothing_left_pending(trace: InteractionTrace) -> None:
    for message in trace.messages.values():
        assert not message.loading, trace.summary()  # no "thinking…" placeholder
        assert not message.content.endswith(CURSOR), trace.summary()  # no stalled preview


async def test_a_reply_deleted_mid_stream_stops_the_generation(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path) as rb:
        # >= 2 ms a token: the 2,000 characters asked for take >= 4 s on any machine
        with ModelControl(rb.bot, "lovecraft", step_s=0.002) as model:
            trace = await fake.run_command(
                user=w.alice,
                guild=w.guild,
                name="lovecraft",
                options={"prompt": "The deleted letter", "length": 2000, "seed": 3},
            )
            await trace.wait_for(lambda t: t.first_text_at is not None, timeout=30)
            fake.delete_as_user(trace)
            seen = len(trace.requests)
            row = (await _rows(db_path, 1))[0]
            calls = model.calls
            await asyncio.sleep(0.3)
            assert model.calls <= calls + 1  # the generation has stopped (one step may end)
        after = await fake.complete_command(
            user=w.alice, guild=w.guild, name="name", options={"count": 2}, settle_s=SETTLE
        )
    assert row["status"] == "cancelled", row
    assert len(str(row["output"])) < 1000  # stopped long before the 2,000 characters
    late = trace.requests[seen:]
    assert [(r.route, r.status) for r in late] == [("edit_original", 404)], trace.summary()
    assert trace.messages == {}  # nothing re-posted: no apology, no second reply
    assert not any(APOLOGY in e.content for e in fake.recorder.message_events)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert_answered_once(after)  # the user's slot was freed
    assert_one_row_each([trace, after], read_rows(db_path))


async def test_failures_after_defer_leave_no_placeholder_and_no_cursor(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    """One batch slot and one queue place (BOT_MAX_BATCH=1, BOT_MAX_QUEUE=1), taken by
    alice's and carol's replies while they show their prompts: bob's request is deferred,
    then refused by the busy engine; then the model fails under both replies. The busy
    request did not use bob's cooldown (1 per 10 min)."""
    w = make_world(fake)
    env = {
        "BOT_MAX_BATCH": "1",
        "BOT_MAX_QUEUE": "1",
        "BOT_COOLDOWN_RATE": "1",
        "BOT_COOLDOWN_PER": "600",
    }
    async with running_bot(fake, tiny_models_dir, db_path, env=env) as rb:
        with ModelControl(rb.bot, "lovecraft") as model:
            model.hold()
            failing = [
                await fake.run_command(
                    user=user,
                    guild=w.guild,
                    name="lovecraft",
                    options={"prompt": "The cellar door", "length": 400},
                )
                for user in (w.alice, w.carol)
            ]
            await model.wait_held()
            for t in failing:
                await t.wait_for(lambda t: t.first_text_at is not None, timeout=30)
            busy = await fake.complete_command(
                user=w.bob,
                guild=w.guild,
                name="lovecraft",
                options={"prompt": "The attic"},
                settle_s=SETTLE,
            )
            model.fail()
            model.release()
            for t in failing:
                await t.wait_final(
                    settle_s=SETTLE,
                    timeout=30,
                    done=lambda t: any(m.ephemeral for m in t.messages.values()),
                )
        again = await fake.complete_command(
            user=w.bob, guild=w.guild, name="name", options={"count": 2}, settle_s=SETTLE
        )
    rows = read_rows(db_path)
    assert_one_row_each([*failing, busy, again], rows)
    for t in (*failing, busy, again):
        assert_answered_once(t)
        assert_discord_valid(t.events)
        _nothing_left_pending(t)
    # busy before any text: the placeholder was deleted, the answer is private
    assert busy.deferred and busy.ephemeral and "busy" in busy.final_text, busy.summary()
    assert any(r.route == "delete_original" and r.status == 204 for r in busy.requests)
    assert row_for(rows, busy)["status"] == "busy"
    # failed after text was shown: the partial text stays, with a note instead of the cursor
    for t in failing:
        public = [m for m in t.final_messages if not m.ephemeral]
        private = [m for m in t.final_messages if m.ephemeral]
        assert len(public) == 1 and len(private) == 1, t.summary()
        assert "The cellar door" in public[0].content and FAILED_NOTE in public[0].content
        assert row_for(rows, t)["status"] == "error"
    assert not again.ephemeral and row_for(rows, again)["status"] == "ok"
