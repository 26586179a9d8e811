"""Error mapping of the command tree and the one-row-per-request bookkeeping."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.discord.limits import CooldownActive, ShuttingDown
from bot.discord.requests import RequestTracker
from bot.discord.tree import APOLOGY, BAD_OPTIONS, RefusedCheck, classify
from bot.generators.base import Busy, InvalidRequest, UnknownModel
from bot.storage import RequestLog


def _http_error() -> discord.HTTPException:
    response = SimpleNamespace(status=500, reason="Server Error")
    return discord.HTTPException(response, "boom")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "status", "message", "loud"),
    [
        (CooldownActive(4.2), "refused", "try again in 4 s", False),
        (RefusedCheck(ShuttingDown()), "refused", "restarting", False),
        (InvalidRequest("Temperature must be between 0 and 2."), "invalid", "Temperature", False),
        (Busy("The poems model is busy."), "busy", "busy", False),
        (UnknownModel("The names model is not available."), "unavailable", "not available", False),
        (
            app_commands.TransformerError("x", 4, app_commands.Transformer()),
            "invalid",
            BAD_OPTIONS,
            False,
        ),
        (_http_error(), "failed", APOLOGY, True),
        (ZeroDivisionError("bug"), "error", APOLOGY, True),
    ],
)
def test_classify(error: Exception, status: str, message: str, loud: bool) -> None:
    got_status, got_message, got_loud = classify(error)
    assert (got_status, got_loud) == (status, loud)
    assert message in got_message


def test_classify_unwraps_command_errors() -> None:
    command: Any = SimpleNamespace(name="poem", qualified_name="poem")
    wrapped = app_commands.CommandInvokeError(command, Busy("queue full"))
    assert classify(wrapped) == ("busy", "queue full", False)


def _interaction(user: int = 7, name: str = "poem") -> Any:
    return SimpleNamespace(
        id=1000 + user,
        extras={},
        data={"name": name},
        user=SimpleNamespace(id=user),
        guild_id=3,
        channel_id=4,
    )


async def test_exactly_one_row_per_request(tmp_path: Path) -> None:
    request_log = await RequestLog.open(tmp_path / "r.db")
    tracker = RequestTracker()
    tracker.request_log = request_log
    a, b = _interaction(1), _interaction(2, "stats")
    tracker.begin(a).params = {"seed": 1}
    assert tracker.in_flight == 1
    tracker.finish(a, "ok")
    tracker.finish(a, "error", RuntimeError("late duplicate"))  # ignored
    tracker.finish(b, "refused", CooldownActive(3))  # never passed the check: still logged
    assert tracker.in_flight == 0
    assert await request_log.flush()
    summary = await request_log.summary()
    await request_log.close()
    assert summary.by_status == {"ok": 1, "refused": 1}
    assert summary.by_command == [("poem", 1, 1), ("stats", 1, 0)]


async def test_wait_idle_waits_for_open_requests() -> None:
    tracker = RequestTracker()
    interaction = _interaction()
    tracker.begin(interaction)
    assert not await tracker.wait_idle(0.01)
    asyncio.get_running_loop().call_later(0.02, tracker.finish, interaction, "ok")
    assert await tracker.wait_idle(1.0)
