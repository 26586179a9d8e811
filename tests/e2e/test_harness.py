"""The e2e harness fails loudly: errors at bot shutdown and task exceptions that nobody
retrieves fail the test instead of passing unnoticed."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest

from tests.fakediscord import FakeDiscord

from .botharness import running_bot

pytestmark = pytest.mark.timeout(120)


async def test_an_error_while_the_bot_closes_fails_the_test(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    with pytest.raises(RuntimeError, match="failed to close"):
        async with running_bot(fake, tiny_models_dir, db_path) as rb:
            request_log = rb.bot.request_log
            real_close = request_log.close

            async def broken_close() -> None:
                await real_close()
                raise RuntimeError("request log failed to close")

            request_log.close = broken_close  # the last step of the bot's close()


async def test_a_task_exception_never_retrieved_is_collected(
    loop_errors: list[dict[str, Any]],
) -> None:
    async def fails() -> None:
        raise ValueError("lost in a fire-and-forget task")

    task = asyncio.get_running_loop().create_task(fails())
    await asyncio.sleep(0.01)
    assert task.done()
    del task
    gc.collect()
    assert any(
        isinstance(c.get("exception"), ValueError) and "never retrieved" in c["message"]
        for c in loop_errors
    ), loop_errors
    loop_errors.clear()  # seen: this test itself must pass
