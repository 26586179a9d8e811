"""``python -m bot run`` / ``sync`` as real processes against the fake Discord."""

from __future__ import annotations

import asyncio
import shutil
import signal
from pathlib import Path

import pytest

from tests.fakediscord import FakeDiscord

from .botharness import REPO_ROOT, bot_env, bot_subprocess, read_rows
from .checks import (
    ALL_COMMANDS,
    assert_discord_valid,
    assert_one_row_each,
    make_world,
    row_for,
)
from .helpers import exit_code_or_stacks

pytestmark = pytest.mark.timeout(120)

STOPPED = "Stopped early: the bot is restarting."
SHIPPED_MODELS = REPO_ROOT / "exported_models"


async def test_sync_cli_to_a_guild_and_globally(
    fake: FakeDiscord, tiny_models_dir: Path, tmp_path: Path
) -> None:
    w = make_world(fake)
    config = tmp_path / "bot.toml"  # an operator command is pushed with the others
    config.write_text('[[commands]]\nname = "tales"\nmodel = "lovecraft"\nkind = "prose"\n')
    env = bot_env(fake, tiny_models_dir, tmp_path / "r.db", {"BOT_CONFIG": str(config)})
    async with bot_subprocess(["sync", "--guild", w.guild.id], env, tmp_path / "g.log") as p:
        assert await p.wait(60) == 0, p.output()
    wanted = ALL_COMMANDS | {"tales"}
    assert f"synced {len(wanted)} command(s) to guild {w.guild.id}" in p.output()
    guild_cmds = fake.guild_commands[w.guild.id]
    assert {c["name"] for c in guild_cmds} == wanted
    assert fake.global_commands == []
    async with bot_subprocess(["sync"], env, tmp_path / "all.log") as p:
        assert await p.wait(60) == 0, p.output()
    assert "to all guilds (global)" in p.output()
    assert {c["name"] for c in fake.global_commands} == {c["name"] for c in guild_cmds}
    puts = fake.recorder.by_route("bulk_guild_commands") + fake.recorder.by_route(
        "bulk_global_commands"
    )
    assert [r.status for r in puts] == [200, 200]
    # sync loads no model and opens no database
    assert not (tmp_path / "r.db").exists()
    assert fake.token not in p.output()


async def test_bad_token_and_missing_token(
    fake: FakeDiscord, tiny_models_dir: Path, tmp_path: Path
) -> None:
    env = bot_env(fake, tiny_models_dir, tmp_path / "r.db", {"DISCORD_TOKEN": "wrong.token"})
    async with bot_subprocess(["run"], env, tmp_path / "bad.log") as p:
        assert await p.wait(60) == 1
    assert "Discord rejected the token" in p.output()
    assert "wrong.token" not in p.output()
    env.pop("DISCORD_TOKEN")
    async with bot_subprocess(["run"], env, tmp_path / "none.log") as p:
        assert await p.wait(60) == 2
    assert "DISCORD_TOKEN is not set" in p.output() and "console" in p.output()


async def test_no_loadable_model_refuses_to_start_naming_the_file(
    fake: FakeDiscord, tiny_models_dir: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_models_dir, models)
    (models / "poems.onnx").write_bytes(b"\x00garbage")
    env = bot_env(fake, models, tmp_path / "r.db", {"BOT_MODELS": "poems"})
    async with bot_subprocess(["run"], env, tmp_path / "run.log") as p:
        assert await p.wait(60) == 1
    out = p.output()
    assert "poems.onnx" in out and "cannot start" in out, out
    assert fake.token not in out


async def _sigterm_run(
    fake: FakeDiscord,
    models: Path,
    tmp_path: Path,
    *,
    grace: float,
    extra: dict[str, str] | None = None,
) -> tuple[list, list, list[dict], str, int]:  # type: ignore[type-arg]
    w = make_world(fake)
    db = tmp_path / f"grace{grace}.db"
    env = bot_env(
        fake,
        models,
        db,
        {"BOT_SHUTDOWN_GRACE": str(grace), "PYTHONFAULTHANDLER": "1", **(extra or {})},
    )
    users = [fake.add_user(f"writer{i}") for i in range(3)]
    async with bot_subprocess(["run"], env, tmp_path / f"run{grace}.log") as p:
        await fake.gateway.wait_ready(timeout=60)
        traces = [
            await fake.run_command(
                user=u,
                guild=w.guild,
                name="lovecraft",
                options={"prompt": "The night", "length": 2000, "seed": i},
            )
            for i, u in enumerate(users)
        ]
        for t in traces:
            await t.wait_for(lambda t: t.first_text_at is not None, timeout=30)
        p.signal(signal.SIGTERM)
        await asyncio.sleep(0.05)
        refused = [await fake.run_command(user=w.alice, guild=w.guild, name="name", options={})]
        code = await exit_code_or_stacks(p, grace + 8)
    for t in [*traces, *refused]:
        await t.wait_final(settle_s=0.2, timeout=10)
    return traces, refused, read_rows(db), p.output(), code


async def test_sigterm_lets_in_flight_replies_finish(
    fake: FakeDiscord, tiny_models_dir: Path, tmp_path: Path
) -> None:
    traces, refused, rows, out, code = await _sigterm_run(fake, tiny_models_dir, tmp_path, grace=5)
    assert code == 0, out
    assert_one_row_each([*traces, *refused], rows)
    for t in traces:
        assert_discord_valid(t.events)
        assert STOPPED not in t.final_text
        assert t.final_text.startswith("**In the manner of Lovecraft**")
        assert row_for(rows, t)["status"] == "ok"
    # a command arriving during shutdown is turned away, privately
    assert refused[0].ephemeral and "restarting" in refused[0].final_text
    assert row_for(rows, refused[0])["status"] == "refused"
    assert "0 lost" in out and fake.token not in out


async def test_sigterm_with_no_grace_closes_replies_with_a_message(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    # the shipped 2x512 lovecraft model: three 2,000-character replies take seconds here
    # (2.8 s batched), so even a 4x faster machine cannot finish one between its first text
    # and the signal (a tiny test model can)
    traces, refused, rows, out, code = await _sigterm_run(
        fake, SHIPPED_MODELS, tmp_path, grace=0, extra={"BOT_MODELS": "lovecraft"}
    )
    assert code == 0, out
    assert_one_row_each([*traces, *refused], rows)
    for t in traces:
        assert_discord_valid(t.events)
        assert not any(m.loading or m.content.endswith("▌") for m in t.messages.values())
        assert row_for(rows, t)["status"] == "cancelled"
        assert STOPPED in t.final_text
    assert "0 lost" in out
