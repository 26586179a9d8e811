"""Shutdown against a slow Discord: every request ends in exactly one row (or is counted
lost), and the whole close stays within the shutdown budget."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from bot.discord.shutdown import ShutdownBudget
from tests.fakediscord import FakeDiscord

from .botharness import bot_env, bot_subprocess, read_rows, running_bot
from .checks import assert_one_row_each, make_world
from .helpers import DatabaseLock, ModelControl, exit_code_or_stacks

pytestmark = pytest.mark.timeout(120)

EDITS = ("edit_original", "edit_followup", "followup")
LONG = {"prompt": "The night", "length": 2000}


async def test_slow_discord_at_shutdown_still_logs_every_request(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    """Discord answers no edit once the bot is told to stop (as slow as it likes): the
    stopped replies cannot be closed in time, yet each request gets its row (cancelled,
    with what it had shown) before the HTTP session goes away, and close() keeps to its
    budget."""
    w = make_world(fake)
    users = [w.alice, w.bob, w.carol]
    async with running_bot(fake, tiny_models_dir, db_path, env={"BOT_SHUTDOWN_GRACE": "0"}) as rb:
        with ModelControl(rb.bot, "lovecraft", step_s=0.001):  # streams for >= 2 s
            traces = [
                await fake.run_command(
                    user=u, guild=w.guild, name="lovecraft", options={**LONG, "seed": i}
                )
                for i, u in enumerate(users)
            ]
            for t in traces:
                await t.wait_for(lambda t: t.first_text_at is not None, timeout=30)
            holds = [fake.faults.hold(route, times=None) for route in EDITS]
            started = time.monotonic()
            await rb.bot.close()
            took = time.monotonic() - started
            for hold in holds:  # Discord answers at last: too late for the bot
                hold.release()
        log = rb.bot.request_log
        budget = rb.bot.shutdown_budget
    assert took < budget.total_s, (took, budget)
    rows = read_rows(db_path)
    assert_one_row_each(traces, rows)  # failed before: 0 of 3 rows, and "0 lost"
    assert log.lost == 0
    for row in rows:
        assert row["status"] == "cancelled", row
        assert "ShutdownOverrun" in (row["error"] or ""), row
        assert row["output"].startswith("The night")  # what the reply had shown


async def test_sigterm_with_slow_edits_and_a_locked_database_exits_within_budget(
    fake: FakeDiscord, tiny_models_dir: Path, tmp_path: Path
) -> None:
    """``python -m bot run`` gets SIGTERM while Discord answers no edit and another process
    holds the database locked: it exits by itself (status 0, before the exit deadline)
    within the budget, and every request's row is counted: here all of them as lost."""
    w = make_world(fake)
    db = tmp_path / "requests.db"
    env = bot_env(fake, tiny_models_dir, db, {"BOT_SHUTDOWN_GRACE": "0"})
    budget = ShutdownBudget(grace_s=0)
    async with bot_subprocess(["run"], env, tmp_path / "run.log") as p:
        await fake.gateway.wait_ready(timeout=60)
        while not db.exists():  # the bot has created its database
            await asyncio.sleep(0.05)
        lock = await DatabaseLock.take(db)
        edits = fake.faults.hold("edit_original", times=None)
        traces = [
            await fake.run_command(
                user=u, guild=w.guild, name="lovecraft", options={**LONG, "seed": i}
            )
            for i, u in enumerate([w.alice, w.bob])
        ]
        for t in traces:
            await t.wait_for(lambda t: t.acknowledged, timeout=30)
        while edits.hits < len(traces):  # each reply is waiting on a slow edit
            await asyncio.sleep(0.05)
        p.signal(signal.SIGTERM)
        signalled = time.monotonic()
        code = await exit_code_or_stacks(p, budget.total_s + 10)
        took = time.monotonic() - signalled
    edits.release()
    await lock.release()
    out = p.output()
    assert code == 0 and "did not finish" not in out, out[-3000:]
    assert took < budget.total_s + 1.0, took  # + the interpreter's own exit
    assert read_rows(db) == []  # locked throughout...
    assert "2 row(s) could NOT be written and are lost" in out, out[-3000:]
    assert "0 written, 0 pending, 2 lost" in out  # ...so each row is counted as lost
