"""The request log's writer on each back end (the ``db`` fixture): rows batched then flushed
(flush's answer), concurrent writers, locked, read-only and unreachable databases, the
queue's overflow, bad rows among good ones (failures sorted by cause, a good batch in one
statement, a database error in the row-by-row retry keeping the batch and leaving nothing
locked), losses that add up, the error-log rate, the back-off, and close. The writer never
dies, and loses only what it must."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import threading
import time
from pathlib import Path

import aiosqlite
import pytest

from bot.storage import RequestLog
from bot.storage.sqlite import about_the_row, rollback
from tests.helpers import request_row, until
from tests.storage_db import (
    READ_ONLY,
    REFUSED_AS_READ_ONLY,
    Db,
    Unreachable,
    drop_trigger,
    refusing_trigger,
)


async def test_rows_are_batched_then_flushed(db: Db) -> None:
    rl = await RequestLog.open(db.target, flush_interval=0.3)
    try:
        for i in range(10):
            rl.log(
                request_row(
                    1000 + i, params={"seed": i}, prompt="a 'quoted'; DROP TABLE requests; --"
                )
            )
        await asyncio.sleep(0.1)
        assert await db.count() == 0, "rows should wait for the batch interval"
        await asyncio.sleep(0.5)
        assert await db.count() == 10
        assert rl.written == 10
        rl.log(request_row(1099))  # logged just before close: close flushes it
    finally:
        await rl.close()
    assert await db.count() == 11
    [(params, prompt)] = await db.rows("SELECT params, prompt FROM requests WHERE user_id=1000")
    assert params == '{"seed": 0}'
    assert prompt.startswith("a 'quoted'")


async def test_concurrent_writers_lose_nothing(db: Db) -> None:
    logs = [await RequestLog.open(db.target, flush_interval=0.02) for _ in range(2)]

    async def user(n: int) -> None:
        for i in range(50):
            logs[n % 2].log(request_row(1000 + n * 100 + i))
            await asyncio.sleep(0)

    await asyncio.gather(*(user(n) for n in range(20)))
    for rl in logs:
        await rl.close()
    users = sorted(await db.users())
    assert users == sorted(1000 + n * 100 + i for n in range(20) for i in range(50))
    assert sum(rl.lost for rl in logs) == 0


async def test_flush_answers_true_when_nothing_is_left_to_write(db: Db) -> None:
    log = await RequestLog.open(db.target)
    try:
        assert await log.flush() is True
        log.log(request_row(1))
        assert await log.flush() is True
        assert log.pending == 0 and log.written == 1
    finally:
        await log.close()


async def test_locked_database_never_blocks_and_catches_up(request_log: RequestLog, db: Db) -> None:
    async with db.write_lock():  # another connection holds the write lock
        start = time.perf_counter()
        for i in range(100):
            request_log.log(request_row(1000 + i))
        assert time.perf_counter() - start < 0.05, "log() must not wait for the database"
        assert await request_log.flush() is False
        assert request_log.pending == 100
        assert "lock" in (request_log.last_error or "")
    assert await request_log.flush() is True
    assert request_log.pending == 0
    assert await db.count() == 100
    assert request_log.lost == 0


async def test_read_only_database_counts_and_reports_lost_rows(
    db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    # Tests run as root, where chmod does not stop writes; the database itself refuses them
    # (SQLite's query_only, PostgreSQL's read-only transactions), as a read-only file or a
    # read-only replica would.
    rl = await RequestLog.open(db.target, flush_interval=0.05)
    assert rl._db is not None
    await rl._db.execute(READ_ONLY[db.kind])
    for i in range(5):
        rl.log(request_row(1000 + i))
    assert await rl.flush() is False
    assert re.search(REFUSED_AS_READ_ONLY, rl.last_error or "")
    with caplog.at_level(logging.ERROR, logger="bot.storage"):
        await rl.close()
    assert rl.lost == 5
    assert any("5 row(s) could NOT be written" in r.getMessage() for r in caplog.records)
    assert await db.count() == 0


async def test_unopenable_database_keeps_rows_until_it_opens(unreachable: Unreachable) -> None:
    rl = await RequestLog.open(unreachable.target, flush_interval=0.05)
    try:
        assert not rl.available
        rl.log(request_row(1001))
        assert await rl.flush() is False
        unreachable.fix()  # the operator fixes the path, or the server starts
        assert await rl.flush() is True
    finally:
        await rl.close()
    assert await unreachable.db.count() == 1
    assert rl.lost == 0


async def test_overflow_is_counted(unreachable: Unreachable) -> None:
    rl = await RequestLog.open(unreachable.target, max_pending=3, close_attempts=1)
    for i in range(5):
        rl.log(request_row(1000 + i))
    assert await rl.flush() is False
    assert rl.pending == 3 and rl.lost == 2
    await rl.close()
    assert rl.lost == 5


async def test_two_thousand_failures_in_a_row_then_recovery(unreachable: Unreachable) -> None:
    """The back-off is capped and computed without overflow (2**1025 used to raise and end
    the writer); tiny intervals make 2,000 real failures quick."""
    rl = await RequestLog.open(unreachable.target, flush_interval=0.0005, max_backoff=0.001)
    assert rl._writer is not None
    try:
        rl.log(request_row(1001))
        await until(lambda: rl.failed_writes >= 2000 or rl._writer.done())  # type: ignore[union-attr]
        assert not rl._writer.done(), "the writer died"
        assert rl._backoff(5000) == rl.max_backoff
        unreachable.fix()
        await until(lambda: rl.written == 1 or rl._writer.done())  # type: ignore[union-attr]
        assert rl.written == 1 and rl.pending == 0 and rl.last_error is None
    finally:
        await rl.close()
    assert rl.lost == 0 and await unreachable.db.users() == [1001]


def test_backoff_doubles_then_stays_at_the_cap() -> None:
    rl = RequestLog(Path("unused.db"), flush_interval=0.25, max_backoff=30.0)
    assert [rl._backoff(n) for n in range(4)] == [0.25, 0.5, 1.0, 2.0]
    assert rl._backoff(7) == 30.0 and rl._backoff(10**6) == 30.0


async def test_one_bad_row_among_good_ones_in_a_batch(
    db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    rl = await RequestLog.open(db.target, flush_interval=0.05)
    try:
        rl.log(request_row(1001))
        rl.log(request_row(1002, tokens=2**70))  # too large for a 64-bit integer
        rl.log(request_row(1003))
        rl.log(request_row(1004, status=None))  # NOT NULL constraint
        rl.log(request_row(1005))
        with caplog.at_level(logging.ERROR, logger="bot.storage"):
            assert await rl.flush() is True
        rl.log(request_row(1006))
        assert await rl.flush() is True
    finally:
        await rl.close()
    assert await db.users() == [1001, 1003, 1005, 1006]
    assert rl.lost == 2 and rl.written == 4
    dropped = [r.getMessage() for r in caplog.records if "cannot be stored" in r.getMessage()]
    assert len(dropped) == 2 and "user 1002" in dropped[0] and "user 1004" in dropped[1]


async def test_unexpected_error_in_a_batch_keeps_rows_and_the_writer(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    rl = await RequestLog.open(db.target, flush_interval=0.01, max_backoff=0.02)
    real_store = rl._store
    calls = 0

    async def broken_once(*args: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug")
        return await real_store(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(rl, "_store", broken_once)
    try:
        rl.log(request_row(1001))
        assert await rl.flush() is False
        assert rl.pending == 1 and "a bug" in (rl.last_error or "")
        assert await rl.flush() is True
    finally:
        await rl.close()
    assert await db.users() == [1001] and rl.lost == 0


async def test_overflow_drops_the_oldest_rows(unreachable: Unreachable) -> None:
    rl = await RequestLog.open(unreachable.target, max_pending=3, flush_interval=0.05)
    try:
        for i in range(5):
            rl.log(request_row(1000 + i))
        assert await rl.flush() is False
        assert rl.pending == 3 and rl.lost == 2
        unreachable.fix()
        assert await rl.flush() is True
    finally:
        await rl.close()
    assert await unreachable.db.users() == [1002, 1003, 1004]  # the newest three


async def test_rows_logged_while_a_write_is_in_progress_are_kept(db: Db) -> None:
    rl = await RequestLog.open(db.target, flush_interval=0.05, busy_timeout_ms=60_000)
    try:
        async with db.write_lock():  # the writer's insert now waits inside the database
            for i in range(3):
                rl.log(request_row(1000 + i))
            first = asyncio.create_task(rl.flush())
            await until(lambda: rl.writing)
            for i in range(3, 6):
                rl.log(request_row(1000 + i))  # logged while the batch of 3 is being written
            assert rl.pending == 6
        assert await first is True
        assert await rl.flush() is True
    finally:
        await rl.close()
    assert await db.users() == [1000 + i for i in range(6)]
    assert rl.lost == 0 and rl.written == 6


async def test_close_always_closes_the_connection_and_reports(
    db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    before = {t for t in threading.enumerate() if not t.daemon}
    rl = await RequestLog.open(db.target, flush_interval=0.05)
    await rl.summary()  # opens the read-only connection too
    reader, writer = rl._reader, rl._db
    assert rl._writer is not None and reader is not None and writer is not None
    rl._writer.cancel()  # a writer that ended badly must not keep close() from closing
    with contextlib.suppress(asyncio.CancelledError):
        await rl._writer
    rl._writer = asyncio.create_task(_raise(RuntimeError("writer bug")))
    rl.log(request_row(1001))
    with caplog.at_level(logging.INFO, logger="bot.storage"):
        await rl.close()
    assert rl._db is None and rl._reader is None
    with pytest.raises(Exception):  # noqa: B017  (each driver says "closed" its own way)
        await reader.fetch("SELECT 1")
    await until(lambda: {t for t in threading.enumerate() if not t.daemon} <= before, 10)
    messages = [r.getMessage() for r in caplog.records]
    assert any("0 written, 0 pending, 1 lost" in m for m in messages), messages


async def _raise(exc: Exception) -> None:
    raise exc


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (sqlite3.IntegrityError("NOT NULL constraint failed"), True),
        (OverflowError("Python int too large to convert to SQLite INTEGER"), True),
        (sqlite3.OperationalError("database is locked"), False),
        (OSError("disk I/O error"), False),
        (sqlite3.DatabaseError("file is not a database"), False),
    ],
)
def test_failures_are_sorted_by_cause(error: Exception, expected: bool) -> None:
    assert about_the_row(error) is expected


async def test_a_rollback_that_fails_is_ignored(tmp_path: Path) -> None:
    db = await aiosqlite.connect(tmp_path / "x.db")
    await db.close()
    await rollback(db)  # a closed connection: the error that led here is the one to raise


def test_an_unavailable_log_is_reported_first_then_every_twentieth_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = RequestLog(Path("unused.db"))
    with caplog.at_level(logging.ERROR, logger="bot.storage"):
        for i in range(41):
            log._note_failure(f"failure {i + 1}")
    assert log.failed_writes == 41 and log.last_error == "failure 41"
    reported = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
    assert [m.split("(")[1].split(")")[0] for m in reported] == [
        "failure 1",
        "failure 20",
        "failure 40",
    ]


async def test_overflow_by_one_row_and_losses_that_add_up(unreachable: Unreachable) -> None:
    log = await RequestLog.open(unreachable.target, max_pending=3, flush_interval=60)
    try:
        for user in range(4):
            log.log(request_row(user))
        assert await log.flush() is False
        assert (log.pending, log.lost) == (3, 1)
        for user in range(4, 6):
            log.log(request_row(user))
        assert await log.flush() is False
        assert (log.pending, log.lost) == (3, 3)
    finally:
        await log.close()


async def test_rows_dropped_in_two_batches_add_up(db: Db) -> None:
    log = await RequestLog.open(db.target, flush_interval=60)
    try:
        for batch in range(2):
            log.log(request_row(10 * batch + 1))
            log.log(request_row(10 * batch + 2, tokens=2**70))  # too large for a 64-bit integer
            assert await log.flush() is True
            assert (log.written, log.lost) == (batch + 1, batch + 1)
    finally:
        await log.close()
    assert await db.users() == [1, 11]


async def test_a_good_batch_is_written_in_one_statement(
    db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    log = await RequestLog.open(db.target, flush_interval=60)
    try:
        for user in range(3):
            log.log(request_row(user))
        with caplog.at_level(logging.WARNING, logger="bot.storage"):
            assert await log.flush() is True
    finally:
        await log.close()
    assert await db.users() == [0, 1, 2]
    assert not [r for r in caplog.records if "row by row" in r.getMessage()]


async def test_a_database_that_refuses_writes_is_not_retried_row_by_row(
    db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    log = await RequestLog.open(db.target, flush_interval=60)
    try:
        assert log._db is not None
        await log._db.execute(READ_ONLY[db.kind])  # refused by the database, even as root
        log.log(request_row(1))
        log.log(request_row(2))
        with caplog.at_level(logging.WARNING, logger="bot.storage"):
            assert await log.flush() is False
        assert re.search(REFUSED_AS_READ_ONLY, log.last_error or "")
        assert not [r for r in caplog.records if "row by row" in r.getMessage()]
    finally:
        await log.close()


async def test_a_database_error_in_the_row_by_row_retry_keeps_the_batch(db: Db) -> None:
    """One row too large sends the batch row by row; then one row meets a database-level
    error (here from a trigger): the whole batch stays queued, and no write transaction is
    left open on the database."""
    log = await RequestLog.open(db.target, flush_interval=60)
    try:
        await db.run(
            refusing_trigger(
                db,
                "broken",
                "INSERT",
                "NEW.command = 'story'",
                "SELECT json_extract('not json', '$')",
                "malformed JSON",
            )
        )
        log.log(request_row(1))
        log.log(request_row(2, tokens=2**70))
        log.log(request_row(3, command="story"))
        assert await log.flush() is False
        assert "malformed JSON" in (log.last_error or "")
        assert (log.pending, log.written, log.lost) == (3, 0, 0)
        await db.run(drop_trigger(db, "broken"))  # fails if the log kept it locked
        assert await log.flush() is True
    finally:
        await log.close()
    assert await db.users() == [1, 3] and log.lost == 1


async def test_rows_that_cannot_be_stored_or_come_after_close_are_counted(db: Db) -> None:
    log = await RequestLog.open(db.target, flush_interval=60)
    for _ in range(2):
        log.log(request_row(1, params={(1, 2): "a key JSON cannot encode"}))
    assert log.lost == 2 and log.pending == 0
    await log.close()
    for _ in range(2):
        log.log(request_row(1))
    assert log.lost == 4
