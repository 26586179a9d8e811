"""Helpers shared by the end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

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
