"""/stats, /server-stats and /forget-me, and the privacy settings, through the real bot."""

from __future__ import annotations

import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from tests.fakediscord import FakeDiscord, InteractionTrace
from tests.fakediscord.payloads import DEFAULT_PERMISSIONS

from .botharness import bot_env, bot_subprocess, read_rows, running_bot
from .checks import (
    assert_answered_once,
    assert_discord_valid,
    assert_one_row_each,
    make_world,
    row_for,
)
from .helpers import SETTLE, exit_code_or_stacks

pytestmark = pytest.mark.timeout(120)

MANAGE_GUILD = 1 << 5
MANAGER = int(DEFAULT_PERMISSIONS) | MANAGE_GUILD


def _private(trace: InteractionTrace) -> None:
    assert_answered_once(trace)
    assert_discord_valid(trace.events)
    assert trace.ephemeral, trace.summary()


async def test_stats_show_only_the_callers_figures_and_server_stats_need_manage_server(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path) as rb:
        elsewhere = await fake.complete_command(
            user=w.carol, guild=w.other_guild, name="name", options={"count": 2}, settle_s=SETTLE
        )
        poem = await fake.complete_command(user=w.bob, guild=w.guild, name="poem", settle_s=SETTLE)
        models = await fake.complete_command(user=w.alice, guild=w.guild, name="models")
        assert await rb.bot.request_log.flush()
        mine = await fake.complete_command(user=w.alice, guild=w.guild, name="stats")
        denied = await fake.complete_command(user=w.bob, guild=w.guild, name="server-stats")
        assert await rb.bot.request_log.flush()
        server = await fake.complete_command(
            user=w.alice, guild=w.guild, name="server-stats", permissions=MANAGER
        )
        dm = await fake.complete_command(
            user=w.carol, name="stats", options={"days": 30}, user_installed=True
        )
    for t in (mine, denied, server, dm):
        _private(t)
    for t in (mine, server, dm):
        assert t.deferred, t.summary()  # deferred first: slow queries cannot miss the 3 s

    assert "Your requests in this server (last 7 days): 1" in mine.final_text, mine.final_text
    assert "/models: 1 (1 ok)" in mine.final_text
    assert "/poem" not in mine.final_text and "Top users" not in mine.final_text

    assert "cannot use this command" in denied.final_text and "/poem" not in denied.final_text

    text = server.final_text
    # /models, /poem, /stats and the refused /server-stats; carol's /name was elsewhere
    assert "Requests in this server (last 7 days): 4" in text, text
    assert "/poem: 1 (1 ok)" in text and "/server-stats: 1 (0 ok)" in text
    assert "/name" not in text
    assert w.bob.mention in text and w.alice.mention in text
    assert w.carol.id not in text  # active only in another server

    assert "Your requests (last 30 days): 1" in dm.final_text, dm.final_text
    assert "/name: 1 (1 ok)" in dm.final_text and "/poem" not in dm.final_text

    rows = read_rows(db_path)
    assert_one_row_each([elsewhere, poem, models, mine, denied, server, dm], rows)
    assert row_for(rows, denied)["status"] == "refused"
    assert row_for(rows, server)["status"] == "ok"


async def test_stats_commands_are_registered_with_their_scopes(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    async with running_bot(fake, tiny_models_dir, db_path):
        pass
    cmds = {c["name"]: c for c in fake.global_commands}
    server = cmds["server-stats"]
    assert int(server["default_member_permissions"]) == MANAGE_GUILD
    assert server["contexts"] == [0]  # servers only
    assert cmds["stats"]["default_member_permissions"] is None
    assert sorted(cmds["stats"]["contexts"]) == [0, 1, 2]
    assert sorted(cmds["forget-me"]["contexts"]) == [0, 1, 2]


async def test_stats_are_under_the_cooldown(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    env = {"BOT_COOLDOWN_RATE": "1", "BOT_COOLDOWN_PER": "600"}
    async with running_bot(fake, tiny_models_dir, db_path, env=env):
        first = await fake.complete_command(user=w.alice, guild=w.guild, name="stats")
        second = await fake.complete_command(user=w.alice, guild=w.guild, name="stats")
    for t in (first, second):
        _private(t)
    assert first.deferred and "(last 7 days)" in first.final_text
    assert "Slow down" in second.final_text and not second.deferred
    assert sorted(r["status"] for r in read_rows(db_path)) == ["ok", "refused"]


async def test_forget_me_after_confirmation(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path) as rb:
        christening = await fake.complete_command(
            user=w.alice,
            guild=w.guild,
            name="name",
            options={"for": f"{w.bob.mention} {w.carol.mention}"},
            settle_s=SETTLE,
        )
        await fake.complete_command(user=w.bob, guild=w.guild, name="poem", settle_s=SETTLE)
        await fake.complete_command(user=w.bob, name="models", user_installed=True)

        ask = await fake.complete_command(user=w.bob, guild=w.guild, name="forget-me")
        _private(ask)
        assert "cannot be undone" in ask.final_text
        cancel = await (await fake.click(ask, "Cancel")).wait_final(settle_s=0.3)
        assert cancel.callback_type == 7 and cancel.final_text == "Nothing was deleted."
        assert await rb.bot.request_log.flush()
        assert sum(int(r["user_id"]) == int(w.bob.id) for r in read_rows(db_path)) == 3

        ask = await fake.complete_command(user=w.bob, guild=w.guild, name="forget-me")
        _private(ask)
        confirm = await fake.click(ask, "Delete my data")
        await confirm.wait_for(lambda t: t.final_text.startswith("Done"), timeout=30)
        assert_discord_valid(confirm.events)
        # bob's /poem, /models and both /forget-me rows (the last one perhaps still queued)
        assert confirm.final_text == (
            "Done: 4 request(s) of yours deleted, and your id removed from 1 request(s) by others."
        )
        asked = fake.messages[list(ask.messages)[-1]]
        assert not asked.payload["components"]  # the confirmation's buttons are gone
        assert await rb.bot.request_log.flush()
    rows = read_rows(db_path)
    assert [int(r["user_id"]) for r in rows] == [int(w.alice.id)]
    assert row_for(rows, christening)["params"].count(w.carol.id) == 1
    with sqlite3.connect(db_path) as db:
        dump = "\n".join(db.iterdump())
    assert w.bob.id not in dump


async def test_metadata_only_and_retention_settings(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    from bot.storage import RequestLog

    await (await RequestLog.open(db_path)).close()
    with sqlite3.connect(db_path) as db:
        db.execute(
            "INSERT INTO requests (created_at, user_id, command, status, prompt) "
            "VALUES (?, 1, 'poem', 'ok', 'old')",
            (time.time() - 40 * 86400,),
        )
    w = make_world(fake)
    env = {"BOT_LOG_CONTENT": "metadata", "BOT_RETENTION_DAYS": "30"}
    async with running_bot(fake, tiny_models_dir, db_path, env=env):
        trace = await fake.complete_command(
            user=w.alice,
            guild=w.guild,
            name="lovecraft",
            options={"prompt": "The secret door", "length": 40},
            settle_s=SETTLE,
        )
    assert_answered_once(trace)
    rows = read_rows(db_path)
    assert len(rows) == 1, rows  # the 40-day-old row was pruned by the running bot
    assert rows[0]["prompt"] is None and rows[0]["output"] is None
    assert rows[0]["status"] == "ok" and rows[0]["tokens"] >= 1


async def test_lone_surrogate_prompt_is_answered_logged_and_the_process_exits(
    fake: FakeDiscord, tiny_models_dir: Path, tmp_path: Path
) -> None:
    w = make_world(fake)
    db = tmp_path / "surrogate.db"
    env = bot_env(fake, tiny_models_dir, db, {"PYTHONFAULTHANDLER": "1"})
    async with bot_subprocess(["run"], env, tmp_path / "run.log") as p:
        await fake.gateway.wait_ready(timeout=60)
        odd = await fake.complete_command(
            user=w.alice,
            guild=w.guild,
            name="lovecraft",
            options={"prompt": "\ud83d", "length": 40},
            settle_s=SETTLE,
        )
        after = await fake.complete_command(user=w.bob, guild=w.guild, name="models")
        p.signal(signal.SIGTERM)
        code = await exit_code_or_stacks(p, 20)
    assert code == 0, p.output()
    for t in (odd, after):
        assert_answered_once(t)
        assert_discord_valid(t.events)
    assert not odd.ephemeral and "In the manner of Lovecraft" in odd.final_text
    rows = read_rows(db)
    assert_one_row_each([odd, after], rows)
    assert row_for(rows, odd)["prompt"] == "\ufffd" and row_for(rows, odd)["status"] == "ok"
    assert "0 lost" in p.output()


async def test_forget_me_question_survives_a_restart_and_expires(
    fake: FakeDiscord,
    tiny_models_dir: Path,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The confirmation's buttons are matched by their custom id, not a view in memory: a
    press after a restart still deletes (it got no answer before), someone else's press
    deletes nothing, and a press after the timeout says the question expired."""
    from bot.discord.cogs import privacy

    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path):
        await fake.complete_command(user=w.bob, guild=w.guild, name="poem", settle_s=SETTLE)
        ask = await fake.complete_command(user=w.bob, guild=w.guild, name="forget-me")
        late = await fake.complete_command(user=w.carol, guild=w.guild, name="forget-me")
    assert "Your replies stay up" in ask.final_text
    async with running_bot(fake, tiny_models_dir, db_path) as rb:  # a new process's memory
        other = await (await fake.click(ask, "Delete my data", user=w.alice)).wait_final(
            settle_s=0.3
        )
        assert other.ephemeral and other.final_text == privacy.NOT_YOURS
        confirm = await fake.click(ask, "Delete my data")
        await confirm.wait_for(lambda t: t.final_text.startswith("Done"), timeout=30)
        assert confirm.final_text.startswith("Done: 2 request(s) of yours deleted")
        loaded = sys.modules[privacy.__name__]  # the bot's own copy (load_extension)
        monkeypatch.setattr(loaded, "CONFIRM_TIMEOUT_S", -1.0)  # every question is too old
        expired = await (await fake.click(late, "Delete my data")).wait_final(settle_s=0.3)
        assert expired.callback_type == 7 and expired.final_text == privacy.TIMED_OUT
        assert not fake.messages[list(late.messages)[-1]].payload["components"]
        assert await rb.bot.request_log.flush()
    users = [int(r["user_id"]) for r in read_rows(db_path)]
    assert int(w.bob.id) not in users and users.count(int(w.carol.id)) == 1
