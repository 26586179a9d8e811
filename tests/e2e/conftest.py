"""Fixtures for the end-to-end tests: a fake Discord on 127.0.0.1 and clients driven
against it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parents[1]
_ROOT = _TESTS.parent
for _p in (str(_ROOT), str(_TESTS)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from fakediscord import FakeDiscord  # noqa: E402

from .checks import finished  # noqa: E402


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.done_rule = finished
        yield server


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "requests.db"
