"""The request log on each back end (SQLite and PostgreSQL: the ``db`` fixture): opening it
(the schema from empty, migrations, a newer schema refused, the file's directories), the
connections' lock waits, what a row stores (text or not, lone surrogates, params JSON), and
errors that name the log. Tests named ``test_sqlite_...`` are about SQLite's file only. The
writer, forget and retention, and /stats have files of their own (test_storage_*.py)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from bot.storage import SCHEMA_VERSION, RequestLog, StorageError, storable
from bot.storage.backend import migrations
from bot.storage.rows import COLUMNS
from tests.helpers import request_row
from tests.storage_db import Db, Unreachable

INDEXES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'index'",
    "postgresql": "SELECT indexname FROM pg_indexes WHERE tablename = 'requests'",
}


async def test_creates_schema_from_empty(db: Db) -> None:
    rl = await RequestLog.open(db.target)
    await rl.close()
    assert await db.version() == len(migrations(db.kind))
    indexes = {r[0] for r in await db.rows(INDEXES[db.kind])}
    assert {"requests_created_at", "requests_user", "requests_interaction"} <= indexes


async def test_sqlite_file_is_made_in_wal_mode_with_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "new.db"
    rl = await RequestLog.open(path)
    await rl.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_migrates_from_every_earlier_schema_and_keeps_rows(db: Db) -> None:
    latest = len(migrations(db.kind))
    for version in range(1, latest):
        await db.drop()
        await db.make_schema(version)
        await db.run(
            "INSERT INTO requests (created_at, user_id, command, status) VALUES (1.0, 7, 'x', 'ok')"
        )
        rl = await RequestLog.open(db.target)
        rl.log(request_row(1000, interaction_id=5, parent_id=4))
        assert (await rl.find(5)) is not None
        await rl.close()
        assert await db.version() == latest, version
        assert await db.users() == [7, 1000], version
    await db.drop()  # and from nothing
    await (await RequestLog.open(db.target)).close()
    assert await db.version() == latest


async def test_refuses_newer_schema(db: Db) -> None:
    await db.set_version(len(migrations(db.kind)) + 1)
    with pytest.raises(
        StorageError, match=rf"^{re.escape(str(db.target))}: schema version .* newer"
    ):
        await RequestLog.open(db.target)


# the writer's lock wait as the database reports it
BUSY_TIMEOUT = {
    "sqlite": ("PRAGMA busy_timeout", 4321),
    "postgresql": ("SHOW lock_timeout", "4321ms"),
}


async def _busy_timeout(db: Db, connection: object) -> object:
    sql, _ = BUSY_TIMEOUT[db.kind]
    return (await connection.fetch(sql))[0][0]  # type: ignore[attr-defined]


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
        log.log(request_row(1))
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
        log.log(request_row(1))
        assert await log.flush() is True
        assert await _busy_timeout(db, log._db) == BUSY_TIMEOUT[db.kind][1]
    finally:
        await log.close()
    log = await RequestLog.open(unreachable.target, busy_timeout_ms=4321)
    try:
        assert await _busy_timeout(db, log._db) == BUSY_TIMEOUT[db.kind][1]
    finally:
        await log.close()


def test_storable_replaces_lone_surrogates_and_nul_only() -> None:
    assert storable("plain é 😀") == "plain é 😀"
    assert storable("\ud83d") == "\ufffd"
    assert storable("a\udc00b") == "a\ufffdb"
    assert storable("\ud83d\ude00") == "😀"  # a pair split in two code points is joined
    assert storable("a\x00b\x01") == "a\ufffdb\x01"  # PostgreSQL's text refuses NUL


async def test_lone_surrogates_and_nul_are_stored_replaced(db: Db) -> None:
    rl = await RequestLog.open(db.target, flush_interval=0.05)
    try:
        rl.log(
            request_row(
                1001, prompt="\ud83d", output="x\udc00", params={"w": "\ud83d"}, error="\x00"
            )
        )
        rl.log(request_row(1002))
        assert await rl.flush() is True
        rl.log(request_row(1003))  # the writer is still alive
        assert await rl.flush() is True
    finally:
        await rl.close()
    assert rl.lost == 0 and await db.users() == [1001, 1002, 1003]
    row = await db.rows("SELECT prompt, output, params, error FROM requests WHERE user_id = 1001")
    assert row == [("\ufffd", "x\ufffd", '{"w": "\ufffd"}', "\ufffd")]


def test_a_row_keeps_its_text_unless_told_otherwise() -> None:
    row = request_row(1, prompt="the sea", output="is calm")
    stored = dict(zip(COLUMNS, row.values(), strict=True))
    assert (stored["prompt"], stored["output"]) == ("the sea", "is calm")
    assert "the sea" not in row.values(text=False)


def test_params_json_cannot_encode_are_stored_as_text() -> None:
    stored = dict(zip(COLUMNS, request_row(1, params={"where": Path("a/b")}).values(), strict=True))
    assert stored["params"] == '{"where": "a/b"}'
