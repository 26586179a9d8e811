"""SIGTERM before a sharded bot is ready (``python -m bot run`` as a real process against
the fake Discord): discord.py paces IDENTIFYs 5 s apart, so with 3 shards the process
spends 10 s with shard 0 connected and the others still to come; before that it logs in
(REST calls a slow Discord can hold up). Signalled in either stage, the process closes as
it would once ready (request log closed, status 0) at once, not at the exit deadline."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.fakediscord import FakeDiscord

from .botharness import bot_env, bot_subprocess
from .helpers import exit_code_or_stacks

pytestmark = pytest.mark.timeout(60)

SHARDS = 3
BUDGET_S = 6  # BOT_SHUTDOWN_GRACE=0: the exit deadline fires 6 s after the signal


async def sigterm_when(
    fake: FakeDiscord, models: Path, tmp_path: Path, moment: Callable[[], Awaitable[object]]
) -> tuple[int, float, str]:
    """Start a 3-shard bot, SIGTERM it once ``moment`` returns; its exit status, the
    seconds from the signal to the exit, its log."""
    env = bot_env(
        fake,
        models,
        tmp_path / "r.db",
        {
            "BOT_SHARD_COUNT": str(SHARDS),
            "BOT_SHUTDOWN_GRACE": "0",
            "BOT_MODELS": "names",
            "PYTHONFAULTHANDLER": "1",
        },
    )
    async with bot_subprocess(["run"], env, tmp_path / "run.log") as p:
        await asyncio.wait_for(moment(), 30)
        p.signal(signal.SIGTERM)
        signalled = time.monotonic()
        code = await exit_code_or_stacks(p, BUDGET_S + 9)
        took = time.monotonic() - signalled
    out = p.output()
    assert code == 0, out
    assert took < BUDGET_S, (took, out)  # not ended by the exit deadline
    assert "did not finish within" not in out and "SIGTERM received" in out, out
    await asyncio.sleep(1)  # anything still under way would have reached the fake by now
    return code, took, out


@pytest.mark.parametrize("shard_1", ["to_connect", "to_identify"])
async def test_sigterm_while_shards_connect_stops_connecting_and_exits_0(
    fake: FakeDiscord, tiny_models_dir: Path, tmp_path: Path, shard_1: str
) -> None:
    """Signalled with shard 0 connected and shard 1 not yet connected, or connected and
    waiting its 5 s to IDENTIFY: the request log is closed and no other shard connects."""
    gateway = fake.gateway

    async def moment() -> None:
        await gateway.wait_ready(timeout=30)  # shard 0
        if shard_1 == "to_identify":
            await gateway.wait_until(lambda: len(gateway.connections) == 2, timeout=5)
        assert gateway.identifies == 1

    _, _, out = await sigterm_when(fake, tiny_models_dir, tmp_path, moment)
    assert "request log: 0 written, 0 pending, 0 lost, closed" in out, out
    assert "Failed to connect for shard_id" not in out, out
    assert gateway.identifies == 1
    assert {s.shard for s in gateway.sessions.values()} == {(0, SHARDS)}
    assert gateway.connections == []  # none left open (shard 1's closed with the process)


async def test_sigterm_while_logging_in_stops_the_start_and_exits_0(
    fake: FakeDiscord, tiny_models_dir: Path, tmp_path: Path
) -> None:
    """Signalled while Discord holds the application-info request of the login: the start
    ends there (no model loaded, no request log opened, no shard connected)."""
    held = fake.faults.hold("app_info")
    try:
        _, _, out = await sigterm_when(fake, tiny_models_dir, tmp_path, held.arrived.wait)
    finally:
        held.release()
    assert "models loaded" not in out and "Traceback" not in out, out
    assert not (tmp_path / "r.db").exists()
    assert fake.gateway.identifies == 0 and fake.gateway.connections == []
