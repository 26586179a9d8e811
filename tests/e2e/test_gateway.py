"""Autocomplete and sharding: the less travelled gateway paths, end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.fakediscord import FakeDiscord
from tests.fakediscord.payloads import snowflake

from .botharness import read_rows, running_bot
from .checks import assert_answered_once, assert_discord_valid, assert_one_row_each, make_world

pytestmark = pytest.mark.timeout(120)


async def test_autocomplete_answers_choices_and_logs_nothing(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    typed = "x" * 150 + " @everyone"
    async with running_bot(fake, tiny_models_dir, db_path):
        traces = [
            await fake.run_command(
                user=w.alice,
                guild=w.guild,
                name="lovecraft",
                interaction_type=4,  # APPLICATION_COMMAND_AUTOCOMPLETE
                raw_options=[{"name": "prompt", "type": 3, "value": value, "focused": True}],
            )
            for value in ("", "the", typed)
        ]
        for t in traces:
            await t.wait_for(lambda t: t.acknowledged, timeout=15)
    for t in traces:
        assert t.callback_type == 8, t.summary()
        choices = t.callback_data["choices"]
        assert 0 < len(choices) <= 25
        assert all(1 <= len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in choices)
    assert len(traces[0].callback_data["choices"]) > 1
    assert traces[2].callback_data["choices"][0]["value"] == typed[:100]
    assert read_rows(db_path) == []  # suggestions are not requests


async def test_two_shards_split_the_guilds(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    """BOT_SHARD_COUNT=2: an AutoShardedBot identifies twice (discord.py waits 5 s between
    shards), each guild arrives on its shard ((id >> 22) % 2) and both shards serve."""
    fake.shard_count = 2
    users = [fake.add_user(f"s{i}") for i in range(4)]
    base = int(snowflake()) >> 22
    guilds = [
        fake.add_guild(f"G{i}", members=[users[i]], guild_id=str(((base + i) << 22) | 7))
        for i in range(4)
    ]
    async with running_bot(fake, tiny_models_dir, db_path, env={"BOT_SHARD_COUNT": "2"}):
        await fake.gateway.wait_ready(timeout=30, identifies=2)
        traces = [
            await fake.complete_command(
                user=u, guild=g, name="name", options={"count": 2}, settle_s=0.5
            )
            for u, g in zip(users, guilds, strict=True)
        ]
    idents = [d for (_, what, d) in fake.recorder.gateway_events if what == "identify"]
    assert sorted(tuple(d["shard"]) for d in idents) == [(0, 2), (1, 2)]
    sessions = list(fake.gateway.sessions.values())
    served = {
        s.shard[0] for s in sessions if any(m["t"] == "INTERACTION_CREATE" for _, m in s.backlog)
    }
    for t in traces:
        assert_answered_once(t)
        assert_discord_valid(t.events)
    assert_one_row_each(traces, read_rows(db_path))
    assert served == {0, 1}
    for s in sessions:  # READY listed exactly the guilds of that shard
        ready = next(m for _, m in s.backlog if m["t"] == "READY")["d"]
        want = {g.id for g in guilds if (int(g.id) >> 22) % 2 == s.shard[0]}
        assert {g["id"] for g in ready["guilds"]} == want and len(want) == 2


async def test_heartbeat_file_follows_the_gateway_not_the_process(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path, tmp_path: Path
) -> None:
    """The container health check reads the heartbeat file: it must go stale while the
    gateway is down (the process is alive) and fresh again once the bot has resumed."""
    beat = tmp_path / "heartbeat"
    env = {"BOT_HEARTBEAT_FILE": str(beat), "BOT_HEARTBEAT_INTERVAL": "1"}

    async def next_write(timeout: float) -> bool:
        before = beat.stat().st_mtime_ns if beat.exists() else None
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
            if beat.exists() and beat.stat().st_mtime_ns != before:
                return True
        return False

    async with running_bot(fake, tiny_models_dir, db_path, env=env) as rb:
        await asyncio.wait_for(rb.bot.wait_until_ready(), 15)
        assert await next_write(3)  # connected: touched every second
        fake.gateway.refuse_connections = True  # an outage: reconnects get 503
        await fake.gateway.drop(mode="abort")
        await asyncio.sleep(0.3)
        assert not await next_write(2.5)  # down: stale, although the process lives
        fake.gateway.refuse_connections = False
        await fake.gateway.wait_resumed(1, timeout=30)
        assert await next_write(3)  # back: fresh again
        assert any(what == "refused" for _, what, _ in fake.recorder.gateway_events)
