"""Retention across processes: on PostgreSQL the processes sharing a log prune it once per
interval between them (the one holding the retention lock, until it stops); a SQLite file's
process prunes its own. Each RequestLog here has its own connections, as a process does."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.storage import RequestLog
from tests.storage_db import Db

INTERVAL = 0.05


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _old_row(db: Db, user_id: int) -> None:
    await db.run(
        "INSERT INTO requests (created_at, user_id, command, params, status, guild_id) "
        "VALUES (?, ?, 'poem', '{}', 'ok', 1)",
        (time.time() - 40 * 86400, user_id),
    )


async def _open(target: Path | str) -> RequestLog:
    return await RequestLog.open(target, retention_days=30, prune_interval=INTERVAL)


async def test_one_process_of_those_sharing_postgresql_prunes_until_it_stops(pg_db: Db) -> None:
    first = await _open(pg_db.target)
    second: RequestLog | None = None
    try:
        await _until(lambda: _ran(first, 1))
        second = await _open(pg_db.target)
        await _old_row(pg_db, 1)
        await _until(lambda: _count_is(pg_db, 0))  # the retention applies
        runs = first.retention_runs
        await asyncio.sleep(10 * INTERVAL)
        assert first.retention_runs > runs  # it goes on each interval
        assert second.retention_runs == 0  # the lock's holder prunes, nobody else
        await first.close()  # the holder stops: the other takes over at its next try
        await _until(lambda: _ran(second, 1))
        await _old_row(pg_db, 2)
        await _until(lambda: _count_is(pg_db, 0))
    finally:
        await first.close()
        if second is not None:
            await second.close()


async def test_sqlite_logs_each_prune_their_own_file(tmp_path: Path) -> None:
    logs = [await _open(tmp_path / f"{i}.db") for i in range(2)]
    try:
        for log in logs:
            await _until(functools.partial(_ran, log, 2))
    finally:
        for log in logs:
            await log.close()


async def _ran(log: RequestLog, times: int) -> bool:
    return log.retention_runs >= times


async def _count_is(db: Db, count: int) -> bool:
    return await db.count() == count
