"""Helpers shared by the end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import discord
from fakediscord import FakeDiscord


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
