"""Fixtures for the end-to-end tests: a fake Discord on 127.0.0.1 and clients driven
against it."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakediscord import FakeDiscord

from .checks import finished


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.done_rule = finished
        yield server


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "requests.db"


@pytest.fixture(autouse=True)
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Fail the test on any error the event loop reports instead of raising: a task whose
    exception is never retrieved, a callback that raised, an unclosed transport or session.
    (Set up before, torn down after, every other fixture of the test.)"""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()

    def collect(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        errors.append(context)
        loop.default_exception_handler(context)  # logs it, with the traceback

    loop.set_exception_handler(collect)
    try:
        yield errors
        gc.collect()  # a dropped task reports its exception when it is collected
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    if errors:
        described = "\n".join(f"{c.get('message')}: {c.get('exception')!r}" for c in errors)
        pytest.fail(f"the event loop reported {len(errors)} error(s):\n{described}")
