"""SIGTERM while an AutoShardedBot is still connecting its shards (``python -m bot run`` as
a real process against the fake Discord): discord.py paces IDENTIFYs 5 s apart, so with 3
shards the process spends 10 s with shard 0 connected and the others still to come."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from tests.fakediscord import FakeDiscord

from .botharness import bot_env, bot_subprocess
from .helpers import exit_code_or_stacks

pytestmark = pytest.mark.timeout(60)

SHARDS = 3


@pytest.mark.parametrize("shard_1", ["to_connect", "to_identify"])
async def test_sigterm_before_ready_stops_connecting_and_exits_0(
    fake: FakeDiscord, tiny_models_dir: Path, tmp_path: Path, shard_1: str
) -> None:
    """Signalled with shard 0 connected and shard 1 not yet connected, or connected and
    waiting its 5 s to IDENTIFY: the process closes as it would once ready (request log
    flushed, status 0) at once, not at the exit deadline, and connects no other shard."""
    env = bot_env(
        fake,
        tiny_models_dir,
        tmp_path / "r.db",
        {
            "BOT_SHARD_COUNT": str(SHARDS),
            "BOT_SHUTDOWN_GRACE": "0",  # a 6 s budget: the exit deadline fires at 6 s
            "BOT_MODELS": "names",
            "PYTHONFAULTHANDLER": "1",
        },
    )
    async with bot_subprocess(["run"], env, tmp_path / "run.log") as p:
        gateway = fake.gateway
        await gateway.wait_ready(timeout=30)  # shard 0
        if shard_1 == "to_identify":
            await gateway.wait_until(lambda: len(gateway.connections) == 2, timeout=5)
        assert gateway.identifies == 1
        p.signal(signal.SIGTERM)
        signalled = time.monotonic()
        code = await exit_code_or_stacks(p, 15)
        took = time.monotonic() - signalled
    out = p.output()
    assert code == 0, out
    assert took < 6, (took, out)  # within the budget, not ended by the exit deadline
    assert "did not finish within" not in out
    assert "SIGTERM received" in out and "request log: 0 written, 0 pending, 0 lost" in out, out
    assert "Failed to connect for shard_id" not in out, out
    await asyncio.sleep(1)  # anything still under way would have reached the fake by now
    assert gateway.identifies == 1
    assert {s.shard for s in gateway.sessions.values()} == {(0, SHARDS)}
    assert gateway.connections == []  # none left open (shard 1's closed with the process)
