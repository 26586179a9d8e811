"""The request log's edges that mutation testing found untested: failures sorted by cause,
half-done writes rolled back (the database is never left locked), counters that add up over
several failures, the error-log rate, and error messages that name the file. On both back
ends (the ``db`` fixture) but for the ``test_sqlite_...`` ones."""

from __future__ import annotations

import logging
import re
import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from bot.storage import RequestLog, RequestRow, StorageError, Summary
from bot.storage.forget import without_member as _without_member
from bot.storage.rows import COLUMNS as _COLUMNS
from bot.storage.sqlite import about_the_row as _about_the_row
from bot.storage.sqlite import rollback as _rollback
from tests.storage_db import READ_ONLY, REFUSED_AS_READ_ONLY, Db, Unreachable

# the writer's lock wait as the database reports it
BUSY_TIMEOUT = {
    "sqlite": ("PRAGMA busy_timeout", 4321),
    "postgresql": ("SHOW lock_timeout", "4321ms"),
}


async def _busy_timeout(db: Db, connection: object) -> object:
    sql, _ = BUSY_TIMEOUT[db.kind]
    return (await connection.fetch(sql))[0][0]  # type: ignore[attr-defined]


def _trigger(db: Db, name: str, event: str, when: str, sqlite: str, message: str) -> str:
    """SQL creating a trigger that refuses ``event`` (INSERT/UPDATE/DELETE) where ``when``
    holds (NEW./OLD. columns): SQLite runs the ``sqlite`` statement, PostgreSQL raises
    ``message`` (an error of the database, not about the row)."""
    if db.sqlite:
        return f"CREATE TRIGGER {name} BEFORE {event} ON requests WHEN {when} BEGIN {sqlite}; END;"
    row = "OLD" if event == "DELETE" else "NEW"
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF {when} THEN RAISE EXCEPTION '{message}'; END IF; RETURN {row}; END $$; "
        f"CREATE TRIGGER {name} BEFORE {event} ON requests FOR EACH ROW EXECUTE FUNCTION {name}();"
    )


def _drop_trigger(db: Db, name: str) -> str:
    if db.sqlite:
        return f"DROP TRIGGER {name};"
    return f"DROP TRIGGER {name} ON requests; DROP FUNCTION {name}();"


def _row(user: int, **kw: object) -> RequestRow:
    return RequestRow(user_id=user, command=str(kw.pop("command", "poem")), status="ok", **kw)  # type: ignore[arg-type]


def test_stats_text_shows_the_p95() -> None:
    summary = Summary(7, 2, [("poem", 2, 2)], {"ok": 2}, [], 1.0, 2.5, None)
    assert "Latency: median 1.00s, p95 2.50s, first text median n/a" in summary.render()


def test_a_row_keeps_its_text_unless_told_otherwise() -> None:
    row = _row(1, prompt="the sea", output="is calm")
    stored = dict(zip(_COLUMNS, row.values(), strict=True))
    assert (stored["prompt"], stored["output"]) == ("the sea", "is calm")
    assert "the sea" not in row.values(text=False)


@pytest.mark.parametrize(
    ("error", "about_the_row"),
    [
        (sqlite3.IntegrityError("NOT NULL constraint failed"), True),
        (OverflowError("Python int too large to convert to SQLite INTEGER"), True),
        (sqlite3.OperationalError("database is locked"), False),
        (OSError("disk I/O error"), False),
        (sqlite3.DatabaseError("file is not a database"), False),
    ],
)
def test_failures_are_sorted_by_cause(error: Exception, about_the_row: bool) -> None:
    assert _about_the_row(error) is about_the_row


async def test_a_rollback_that_fails_is_ignored(tmp_path: Path) -> None:
    db = await aiosqlite.connect(tmp_path / "x.db")
    await db.close()
    await _rollback(db)  # a closed connection: the error that led here is the one to raise


@pytest.mark.parametrize("params", ["[7]", "7", '"7"', "not json"])
def test_params_that_are_not_an_object_are_left_alone(params: str) -> None:
    assert _without_member(params, 7) is None


async def test_sqlite_reads_name_the_file_when_it_has_no_requests_table(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()  # a database, but not a request log
    log = RequestLog(path)
    try:
        expected = rf"^request log {path}: no such table: requests$"
        with pytest.raises(StorageError, match=expected):
            await log.find(1)
        with pytest.raises(StorageError, match=expected):
            await log.summary()
    finally:
        await log.close()


async def test_writes_to_an_unavailable_log_say_why(unreachable: Unreachable) -> None:
    log = await RequestLog.open(unreachable.target, flush_interval=60)
    try:
        where = re.escape(log.where)
        with pytest.raises(
            StorageError, match=rf"^request log {where} is unavailable: cannot open"
        ):
            await log.prune(1)
    finally:
        await log.close()


async def test_stats_reads_wait_as_long_as_configured(db: Db) -> None:
    log = await RequestLog.open(db.target, busy_timeout_ms=4321)
    try:
        reader = await log._read_only()
        assert await _busy_timeout(db, reader) == BUSY_TIMEOUT[db.kind][1]
    finally:
        await log.close()


async def test_forget_counts_every_queued_row_it_scrubs(db: Db) -> None:
    log = await RequestLog.open(db.target, flush_interval=60)
    try:
        for _ in range(2):
            log.log(_row(9, command="name", params={"members": [7, 8]}))
        forgotten = await log.forget(7)
        assert (forgotten.deleted, forgotten.scrubbed) == (0, 2)
    finally:
        await log.close()


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
            log.log(_row(user))
        assert await log.flush() is False
        assert (log.pending, log.lost) == (3, 1)
        for user in range(4, 6):
            log.log(_row(user))
        assert await log.flush() is False
        assert (log.pending, log.lost) == (3, 3)
    finally:
        await log.close()


async def test_rows_dropped_in_two_batches_add_up(db: Db) -> None:
    log = await RequestLog.open(db.target, flush_interval=60)
    try:
        for batch in range(2):
            log.log(_row(10 * batch + 1))
            log.log(_row(10 * batch + 2, tokens=2**70))  # too large for a 64-bit integer
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
            log.log(_row(user))
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
        log.log(_row(1))
        log.log(_row(2))
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
            _trigger(
                db,
                "broken",
                "INSERT",
                "NEW.command = 'story'",
                "SELECT json_extract('not json', '$')",
                "malformed JSON",
            )
        )
        log.log(_row(1))
        log.log(_row(2, tokens=2**70))
        log.log(_row(3, command="story"))
        assert await log.flush() is False
        assert "malformed JSON" in (log.last_error or "")
        assert (log.pending, log.written, log.lost) == (3, 0, 0)
        await db.run(_drop_trigger(db, "broken"))  # fails if the log kept it locked
        assert await log.flush() is True
    finally:
        await log.close()
    assert await db.users() == [1, 3] and log.lost == 1


async def test_a_prune_that_fails_deletes_nothing(db: Db) -> None:
    log = await RequestLog.open(db.target, flush_interval=60)
    try:
        for user in (1, 2, 3):
            log.log(_row(user, created_at=1000.0 + user))
        assert await log.flush()
        # SQLite: RAISE keeps what the statement deleted before it; only a rollback undoes it
        await db.run(
            _trigger(db, "keep", "DELETE", "OLD.user_id = 2", "SELECT RAISE(FAIL, 'kept')", "kept")
        )
        with pytest.raises(Exception, match="kept"):
            await log.prune(1)
        await db.run(_drop_trigger(db, "keep"))  # fails if the log kept it locked
        log.log(_row(4))
        assert await log.flush()
    finally:
        await log.close()
    assert await db.users() == [1, 2, 3, 4]


async def test_a_forget_that_fails_deletes_nothing(db: Db) -> None:
    log = await RequestLog.open(db.target, flush_interval=60)
    try:
        log.log(_row(7))
        log.log(_row(9, command="name", params={"members": [7]}))
        assert await log.flush()
        await db.run(
            _trigger(db, "frozen", "UPDATE", "1 = 1", "SELECT RAISE(ABORT, 'frozen')", "frozen")
        )
        with pytest.raises(Exception, match="frozen"):
            await log.forget(7)
        await db.run(_drop_trigger(db, "frozen"))  # fails if the log kept it locked
        log.log(_row(5))
        assert await log.flush()
    finally:
        await log.close()
    assert await db.users() == [7, 9, 5]


async def test_rows_that_cannot_be_stored_or_come_after_close_are_counted(db: Db) -> None:
    log = await RequestLog.open(db.target, flush_interval=60)
    for _ in range(2):
        log.log(_row(1, params={(1, 2): "a key JSON cannot encode"}))
    assert log.lost == 2 and log.pending == 0
    await log.close()
    for _ in range(2):
        log.log(_row(1))
    assert log.lost == 4


def test_params_json_cannot_encode_are_stored_as_text() -> None:
    stored = dict(zip(_COLUMNS, _row(1, params={"where": Path("a/b")}).values(), strict=True))
    assert stored["params"] == '{"where": "a/b"}'


async def test_sqlite_log_makes_its_missing_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "log.db"
    log = await RequestLog.open(path)
    try:
        assert log.available
    finally:
        await log.close()
    assert path.is_file()


NEWER = {
    "sqlite": "upgrade the bot or point BOT_DB_PATH at another file",
    "postgresql": "upgrade the bot or point BOT_DB_URL at another database",
}


async def test_a_newer_schema_says_what_to_do(db: Db) -> None:
    await db.set_version(99)
    with pytest.raises(StorageError, match=NEWER[db.kind]):
        await RequestLog.open(db.target)


async def test_health_of_an_unavailable_log(unreachable: Unreachable) -> None:
    log = await RequestLog.open(unreachable.target, flush_interval=60)
    try:
        log.log(_row(1))
        assert log.health().startswith(
            "request log: 0 written, 1 pending, 0 lost (last error: cannot open"
        )
    finally:
        await log.close()


async def test_writes_wait_as_long_as_configured_also_when_opened_late(
    unreachable: Unreachable,
) -> None:
    db = unreachable.db
    log = await RequestLog.open(unreachable.target, busy_timeout_ms=4321, flush_interval=60)
    try:
        unreachable.fix()  # the operator fixes it; the next write opens the database
        log.log(_row(1))
        assert await log.flush() is True
        assert await _busy_timeout(db, log._db) == BUSY_TIMEOUT[db.kind][1]
    finally:
        await log.close()
    log = await RequestLog.open(unreachable.target, busy_timeout_ms=4321)
    try:
        assert await _busy_timeout(db, log._db) == BUSY_TIMEOUT[db.kind][1]
    finally:
        await log.close()


async def test_a_retention_under_a_day_is_applied(db: Db) -> None:
    log = await RequestLog.open(db.target, retention_days=0.5)
    try:
        assert log._pruner is not None
    finally:
        await log.close()
