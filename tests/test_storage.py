"""The request log: migrations, batching, concurrency, locked/read-only databases, stats."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage import (
    MIGRATIONS,
    SCHEMA_VERSION,
    RequestLog,
    RequestRow,
    StorageError,
)


def _count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM requests").fetchone()[0]


def _row(i: int = 0, **kw: object) -> RequestRow:
    defaults: dict[str, object] = {"user_id": 1000 + i, "command": "poem", "status": "ok"}
    defaults.update(kw)
    return RequestRow(**defaults)  # type: ignore[arg-type]


@pytest.fixture
async def request_log(tmp_path: Path) -> AsyncIterator[RequestLog]:
    rl = await RequestLog.open(tmp_path / "log.db", flush_interval=0.05, busy_timeout_ms=100)
    yield rl
    await rl.close()


async def test_creates_schema_from_empty(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "new.db"
    rl = await RequestLog.open(path)
    await rl.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"requests_created_at", "requests_user"} <= indexes


async def test_migrates_older_schema_and_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
        db.execute(
            "INSERT INTO requests (created_at, user_id, command, status) VALUES (1.0, 7, 'x', 'ok')"
        )
    rl = await RequestLog.open(path)
    rl.log(_row())
    await rl.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        users = [r[0] for r in db.execute("SELECT user_id FROM requests ORDER BY id")]
    assert users == [7, 1000]


async def test_refuses_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StorageError, match=r"future\.db.*newer"):
        await RequestLog.open(path)


async def test_rows_are_batched_then_flushed(tmp_path: Path) -> None:
    path = tmp_path / "batch.db"
    rl = await RequestLog.open(path, flush_interval=0.3)
    try:
        for i in range(10):
            rl.log(_row(i, params={"seed": i}, prompt="a 'quoted'; DROP TABLE requests; --"))
        await asyncio.sleep(0.1)
        assert _count(path) == 0, "rows should wait for the batch interval"
        await asyncio.sleep(0.5)
        assert _count(path) == 10
        assert rl.written == 10
        rl.log(_row(99))  # logged just before close: close flushes it
    finally:
        await rl.close()
    assert _count(path) == 11
    with sqlite3.connect(path) as db:
        params, prompt = db.execute(
            "SELECT params, prompt FROM requests WHERE user_id=1000"
        ).fetchone()
    assert params == '{"seed": 0}'
    assert prompt.startswith("a 'quoted'")


async def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    logs = [await RequestLog.open(path, flush_interval=0.02) for _ in range(2)]

    async def user(n: int) -> None:
        for i in range(50):
            logs[n % 2].log(_row(n * 100 + i))
            await asyncio.sleep(0)

    await asyncio.gather(*(user(n) for n in range(20)))
    for rl in logs:
        await rl.close()
    with sqlite3.connect(path) as db:
        users = sorted(r[0] for r in db.execute("SELECT user_id FROM requests"))
    assert users == sorted(1000 + n * 100 + i for n in range(20) for i in range(50))
    assert sum(rl.lost for rl in logs) == 0


async def test_locked_database_never_blocks_and_catches_up(
    request_log: RequestLog, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "log.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock
    try:
        start = time.perf_counter()
        for i in range(100):
            request_log.log(_row(i))
        assert time.perf_counter() - start < 0.05, "log() must not wait for the database"
        assert await request_log.flush() is False
        assert request_log.pending == 100
        assert "locked" in (request_log.last_error or "")
    finally:
        other.execute("COMMIT")
        other.close()
    assert await request_log.flush() is True
    assert request_log.pending == 0
    assert _count(tmp_path / "log.db") == 100
    assert request_log.lost == 0


async def test_read_only_database_counts_and_reports_lost_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Tests run as root, where chmod does not stop writes; query_only makes SQLite itself
    # refuse them with the same SQLITE_READONLY error a read-only file gives.
    path = tmp_path / "ro.db"
    rl = await RequestLog.open(path, flush_interval=0.05)
    assert rl._db is not None
    await rl._db.execute("PRAGMA query_only = ON")
    for i in range(5):
        rl.log(_row(i))
    assert await rl.flush() is False
    assert "readonly" in (rl.last_error or "")
    with caplog.at_level(logging.ERROR, logger="bot.storage"):
        await rl.close()
    assert rl.lost == 5
    assert any("5 row(s) could NOT be written" in r.getMessage() for r in caplog.records)
    assert _count(path) == 0


async def test_unopenable_database_keeps_rows_until_it_opens(tmp_path: Path) -> None:
    blocker = tmp_path / "notadir"
    blocker.write_text("a file where a directory should be")
    path = blocker / "log.db"
    rl = await RequestLog.open(path, flush_interval=0.05)
    try:
        assert not rl.available
        rl.log(_row(1))
        assert await rl.flush() is False
        blocker.unlink()  # the operator fixes the path
        assert await rl.flush() is True
    finally:
        await rl.close()
    assert _count(path) == 1
    assert rl.lost == 0


async def test_overflow_is_counted(tmp_path: Path) -> None:
    blocker = tmp_path / "f"
    blocker.write_text("")
    rl = await RequestLog.open(blocker / "x.db", max_pending=3, close_attempts=1)
    for i in range(5):
        rl.log(_row(i))
    assert await rl.flush() is False
    assert rl.pending == 3 and rl.lost == 2
    await rl.close()
    assert rl.lost == 5


async def test_summary_and_prune(request_log: RequestLog, tmp_path: Path) -> None:
    now = time.time()
    for i, latency in enumerate([1.0, 2.0, 3.0, 4.0, 10.0]):
        request_log.log(
            _row(0, command="poem", total_s=latency, first_token_s=latency / 10, created_at=now - i)
        )
    request_log.log(_row(1, command="names", status="refused", total_s=0.01, created_at=now))
    request_log.log(_row(1, command="names", total_s=5.0, created_at=now))
    request_log.log(_row(2, command="story", total_s=99.0, created_at=now - 30 * 86400))
    assert await request_log.flush()

    week = await request_log.summary(days=7)
    assert week.total == 7
    assert week.by_command == [("poem", 5, 5), ("names", 2, 1)]
    assert week.by_status == {"ok": 6, "refused": 1}
    assert week.top_users == [(1000, 5), (1001, 2)]
    # successful latencies in the window: 1, 2, 3, 4, 5, 10 (nearest rank)
    assert week.latency_p50_s == 3.0
    assert week.latency_p95_s == 10.0
    assert week.first_token_p50_s == pytest.approx(0.3)
    text = week.render()
    assert "Requests (last 7 days): 7" in text and "/poem: 5 (5 ok)" in text
    assert "<@1000>" in week.render(mention_users=True)

    everything = await request_log.summary()
    assert everything.total == 8 and everything.latency_p95_s == 99.0

    assert await request_log.prune(older_than_days=10) == 1
    assert (await request_log.summary()).total == 7


def _cli(*argv: str) -> int:
    import argparse

    from bot import stats_cli

    parser = argparse.ArgumentParser()
    stats_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_stats_and_prune_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cli.db"
    with sqlite3.connect(path) as db:
        db.executescript("".join(MIGRATIONS) + f"PRAGMA user_version = {SCHEMA_VERSION};")
        db.executemany(
            "INSERT INTO requests (created_at, user_id, command, status, total_s) "
            "VALUES (?, 5, ?, 'ok', 1.5)",
            [(time.time(), "poem"), (time.time() - 40 * 86400, "story")],
        )
    assert _cli("stats", "--db", str(path), "--days", "7") == 0
    out = capsys.readouterr().out
    assert "Requests (last 7 days): 1" in out and "/poem: 1 (1 ok)" in out and "/story" not in out
    assert _cli("prune", "--older-than", "30", "--db", str(path)) == 0
    assert "deleted 1 request(s)" in capsys.readouterr().out
    assert _count(path) == 1

    assert _cli("stats", "--db", str(tmp_path / "missing.db")) == 1
    assert "no request log at" in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists()
