"""Helpers shared by the end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest

from tests.fakediscord import FakeDiscord, InteractionTrace

from .botharness import BotProcess

SETTLE = 0.8  # > BOT_EDIT_INTERVAL (0.3): a reply that is still streaming has edited by then


def buttons(fake: FakeDiscord, trace: InteractionTrace) -> list[dict[str, Any]]:
    """The buttons on the newest message of ``trace``."""
    message = fake.messages[list(trace.messages)[-1]]
    return [b for row in message.payload.get("components") or [] for b in row["components"]]


def labels(fake: FakeDiscord, trace: InteractionTrace) -> list[str]:
    return [b["label"] for b in buttons(fake, trace)]


async def press(
    fake: FakeDiscord, trace: InteractionTrace, label: str, **kwargs: Any
) -> InteractionTrace:
    """Press the button ``label`` under ``trace``'s reply; the press, once its reply settled."""
    return await (await fake.click(trace, label, **kwargs)).wait_final(settle_s=SETTLE)


def row_of(rows: list[dict[str, Any]], trace: InteractionTrace) -> dict[str, Any]:
    """The request-log row of ``trace``'s interaction (exactly one)."""
    matches = [r for r in rows if r["interaction_id"] == int(trace.interaction_id)]
    assert len(matches) == 1, (trace.summary(), rows)
    return matches[0]


async def exit_code_or_stacks(p: BotProcess, timeout: float) -> int:
    """The exit status; if the process hangs, fail with every thread's stack
    (PYTHONFAULTHANDLER dumps them on SIGABRT)."""
    try:
        return await p.wait(timeout)
    except TimeoutError:
        p.signal(signal.SIGABRT)
        with contextlib.suppress(TimeoutError):
            await p.wait(10)
        pytest.fail(f"still running {timeout:.0f} s after SIGTERM:\n{p.output()[-3000:]}")


_LOCKER = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=10)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()  # held until the test says so
con.rollback()
con.close()
print("released", flush=True)
"""


class DatabaseLock:
    """Another process holding a SQLite database under an exclusive lock until released."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    @classmethod
    async def take(cls, db_path: Path) -> DatabaseLock:
        """Once the other process holds the lock."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _LOCKER,
            str(db_path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        assert (await asyncio.wait_for(process.stdout.readline(), 10)).strip() == b"locked"
        return cls(process)

    async def release(self) -> None:
        """Once the lock is released and the process has ended."""
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(b"release\n")
        await self._process.stdin.drain()
        said = await asyncio.wait_for(self._process.stdout.readline(), 15)
        assert said.strip() == b"released"
        await asyncio.wait_for(self._process.wait(), 15)


@contextlib.asynccontextmanager
async def running_client(
    fake: FakeDiscord, client: discord.Client, *, ready_timeout: float = 15.0
) -> AsyncIterator[discord.Client]:
    """Run ``client`` against ``fake`` (in this process) until the block exits."""
    with fake.patch_discord():
        task = asyncio.create_task(client.start(fake.token), name="client.start")
        try:
            waiter = asyncio.create_task(fake.gateway.wait_ready(timeout=ready_timeout))
            done, _ = await asyncio.wait(
                {task, waiter}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if task in done:
                waiter.cancel()
                task.result()  # raises the client's error
                raise RuntimeError("client stopped before it was ready")
            await waiter
            await asyncio.wait_for(client.wait_until_ready(), ready_timeout)
            yield client
        finally:
            await asyncio.wait_for(client.close(), 15)
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 15)


class ModelControl:
    """Paces, holds or breaks one model of an in-process bot, so a test orders its steps by
    events instead of by how fast this machine generates.

    Every ORT call of the model (the real one still runs) first sleeps ``step_s`` (a floor
    on generation time, so a 4x faster machine still streams for a while), then, while
    ``hold()`` is in force, waits in the scheduler's worker thread (the request keeps its
    batch slot), and raises while ``fail()`` is in force.
    """

    def __init__(self, bot: Any, model: str, *, step_s: float = 0.0) -> None:
        self.bundle = bot.engine.scheduler(model).bundle
        self.step_s = step_s
        self.calls = 0
        self._open = threading.Event()
        self._open.set()
        self._failing = False
        self._held = threading.Event()  # a call is waiting at the gate
        self._real_run = self.bundle.run

    def __enter__(self) -> ModelControl:
        self.bundle.run = self._run
        return self

    def __exit__(self, *exc: object) -> None:
        self._open.set()
        del self.bundle.run  # back to the class's method

    def hold(self) -> None:
        self._held.clear()
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def fail(self) -> None:
        self._failing = True

    async def wait_held(self, timeout: float = 30.0) -> None:
        """Until a call of the model is waiting at the gate."""
        if not await asyncio.to_thread(self._held.wait, timeout):
            raise TimeoutError("the model was never called while held")

    def _run(self, *args: Any) -> Any:
        self.calls += 1
        if self.step_s:
            time.sleep(self.step_s)
        if not self._open.is_set():
            self._held.set()
            self._open.wait(60)
        if self._failing:
            raise RuntimeError("injected model failure")
        return self._real_run(*args)
