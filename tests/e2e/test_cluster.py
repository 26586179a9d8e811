"""Shard processes sharing one PostgreSQL request log: real ``python -m bot run --shard-ids
.. --shard-count 4`` processes against one fake Discord (guilds on shard
``(id >> 22) % 4``, DMs on shard 0).

A press reaches whichever process runs the guild's shard when it is pressed; after a
redeploy or a new split of the shards that is not the process that sent the reply. Here
the process of shards 2 and 3 is replaced by a new one before the press, while the process
of shards 0 and 1 (and so of every DM) runs throughout."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from bot.storage.backend import POSTGRESQL
from bot.storage.broadcast import APPLICATION_NAME
from tests.fakediscord import FakeDiscord, FakeGuild, FakeUser, InteractionTrace
from tests.fakediscord.gateway import GatewaySession
from tests.fakediscord.payloads import DEFAULT_PERMISSIONS, snowflake
from tests.pg import PgServer
from tests.storage_db import Db, drop_database, pg_database

from .botharness import BotProcess, bot_env, bot_subprocess
from .checks import assert_answered_once, assert_discord_valid
from .helpers import exit_code_or_stacks

pytestmark = pytest.mark.timeout(120)

SHARDS = 4
MANAGER = int(DEFAULT_PERMISSIONS) | 1 << 5  # Manage Server: /server-stats


@pytest.fixture
def cluster_db(pg_server: PgServer) -> Iterator[Db]:
    """A fresh database on the session's PostgreSQL server, shared by every process."""
    name = pg_database(pg_server)
    try:
        yield Db(POSTGRESQL, pg_server.url(name))
    finally:
        drop_database(pg_server, name)


def guild_on_shard(fake: FakeDiscord, shard: int, name: str, members: list[FakeUser]) -> FakeGuild:
    """A guild whose id Discord routes to ``shard`` of SHARDS."""
    base = int(snowflake()) >> 22
    high = next(base + k for k in range(SHARDS) if (base + k) % SHARDS == shard)
    return fake.add_guild(name, members=members, guild_id=str(high << 22 | 7))


def live_shards(fake: FakeDiscord) -> set[int]:
    return {s.shard[0] for s in fake.gateway.live_sessions() if s.shard[1] == SHARDS}


def session_of(fake: FakeDiscord, trace: InteractionTrace) -> GatewaySession:
    """The gateway session the interaction was dispatched on."""
    for session in fake.gateway.sessions.values():
        for _, msg in session.backlog:
            if msg.get("t") == "INTERACTION_CREATE" and msg["d"]["id"] == trace.interaction_id:
                return session
    raise AssertionError(f"{trace.summary()} was never dispatched")


def shard_of(fake: FakeDiscord, trace: InteractionTrace) -> int:
    return session_of(fake, trace).shard[0]


@pytest.fixture
def cluster_env(
    fake: FakeDiscord, tiny_models_dir: Path, tmp_path: Path, cluster_db: Db
) -> dict[str, str]:
    fake.shard_count = SHARDS
    assert isinstance(cluster_db.target, str)
    extra = {"BOT_DB_URL": cluster_db.target, "BOT_MODELS": "names", "PYTHONFAULTHANDLER": "1"}
    return bot_env(fake, tiny_models_dir, tmp_path / "no.db", extra)


def shard_process(
    env: dict[str, str], ids: str, log: Path
) -> AbstractAsyncContextManager[BotProcess]:
    """``python -m bot run --shard-ids IDS --shard-count 4``."""
    args = ["run", "--shard-ids", ids, "--shard-count", str(SHARDS)]
    return bot_subprocess(args, env, log)


async def written(db: Db, count: int, timeout: float = 15.0) -> None:
    """Wait until the log holds ``count`` rows (each process writes its rows a moment after
    the reply's last edit)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while await db.count() < count:
        assert asyncio.get_running_loop().time() < deadline, f"fewer than {count} rows"
        await asyncio.sleep(0.05)


async def stop(p: BotProcess) -> None:
    """SIGTERM: a clean exit with every row written."""
    p.signal(signal.SIGTERM)
    assert await exit_code_or_stacks(p, 20) == 0, p.output()[-3000:]
    assert "0 lost" in p.output()


async def test_shard_processes_share_the_log_and_forget_me_reaches_every_row(
    fake: FakeDiscord, cluster_env: dict[str, str], cluster_db: Db, tmp_path: Path
) -> None:
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    near = guild_on_shard(fake, 0, "Near", [alice, bob])  # process A's shards: 0, 1
    far = guild_on_shard(fake, 2, "Far", [alice])  # process B's (then C's): 2, 3

    async def run(
        user: FakeUser, guild: FakeGuild | None, name: str, **kw: object
    ) -> InteractionTrace:
        trace = await fake.complete_command(user=user, guild=guild, name=name, settle_s=0.5, **kw)
        assert_answered_once(trace)
        assert_discord_valid(trace.events)
        return trace

    async with (
        shard_process(cluster_env, "0,1", tmp_path / "a.log") as a,
        shard_process(cluster_env, "2,3", tmp_path / "b.log") as b,
    ):
        await fake.gateway.wait_until(lambda: live_shards(fake) == {0, 1, 2, 3}, timeout=60)
        idents = [d["shard"] for (_, what, d) in fake.recorder.gateway_events if what == "identify"]
        assert sorted(map(tuple, idents)) == [(i, SHARDS) for i in range(SHARDS)]

        on_a = await run(alice, near, "name", options={"count": 2})
        on_b = await run(alice, far, "name", options={"count": 3})
        await run(bob, near, "name", options={"count": 2})
        assert (shard_of(fake, on_a), shard_of(fake, on_b)) == (0, 2)
        # a DM reaches shard 0 (process A), which counts process B's row too
        await written(cluster_db, 3)
        stats = await run(alice, None, "stats", options={"days": 30})
        assert shard_of(fake, stats) == 0
        assert "Your requests (last 30 days): 2" in stats.final_text, stats.final_text

        await stop(b)  # B goes away; C runs shards 2 and 3 from now on
        await fake.gateway.wait_until(lambda: live_shards(fake) == {0, 1}, timeout=10)
        async with shard_process(cluster_env, "2,3", tmp_path / "c.log") as c:
            await fake.gateway.wait_until(lambda: live_shards(fake) == {0, 1, 2, 3}, timeout=60)
            reroll = await (await fake.click(on_b, "Reroll")).wait_final(settle_s=0.5)
            assert_discord_valid(reroll.events)
            assert reroll.final_text.startswith("**Names**"), reroll.final_text  # B's row found
            assert session_of(fake, reroll) is not session_of(fake, on_b)  # C's, not B's
            await written(cluster_db, 5)  # and the /stats and the Reroll
            server = await run(alice, far, "server-stats", permissions=MANAGER)
            # B's /name and C's Reroll of it, written by two processes
            assert "Requests in this server (last 7 days): 2" in server.final_text, (
                server.final_text
            )
            assert "/name: 2 (2 ok)" in server.final_text

            listeners = (
                "SELECT COUNT(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = ?"
            )
            assert await cluster_db.rows(listeners, (APPLICATION_NAME,)) == [(2,)]  # A and C
            before = await cluster_db.rows("SELECT user_id FROM requests")
            assert {int(u) for (u,) in before} == {int(alice.id), int(bob.id)}
            ask = await run(alice, None, "forget-me")
            confirm = await fake.click(ask, "Delete my data")
            await confirm.wait_for(lambda t: t.final_text.startswith("Done"), timeout=30)
            assert shard_of(fake, confirm) == 0  # process A deletes what B and C wrote
            await stop(c)
        await stop(a)

    rows = await cluster_db.rows("SELECT user_id, command FROM requests")
    assert rows and all(int(u) == int(bob.id) for u, _ in rows), rows
    outputs = "".join(p.output() for p in (a, b, c))
    assert fake.token not in outputs and "Traceback" not in outputs
