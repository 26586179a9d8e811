"""The request log on each back end (SQLite and PostgreSQL: the ``db`` fixture): migrations,
batching, concurrency, locked/read-only/unreachable databases, stats. Tests named
``test_sqlite_...`` are about SQLite's file and query plans only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage import (
    SCHEMA_VERSION,
    RequestLog,
    RequestRow,
    StorageError,
    storable,
)
from bot.storage.backend import migrations
from tests.storage_db import READ_ONLY, REFUSED_AS_READ_ONLY, Db, Unreachable


def _row(i: int = 0, **kw: object) -> RequestRow:
    defaults: dict[str, object] = {"user_id": 1000 + i, "command": "poem", "status": "ok"}
    defaults.update(kw)
    return RequestRow(**defaults)  # type: ignore[arg-type]


@pytest.fixture
async def request_log(db: Db) -> AsyncIterator[RequestLog]:
    rl = await RequestLog.open(db.target, flush_interval=0.05, busy_timeout_ms=100)
    yield rl
    await rl.close()


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
        rl.log(_row(interaction_id=5, parent_id=4))
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


async def test_rows_are_batched_then_flushed(db: Db) -> None:
    rl = await RequestLog.open(db.target, flush_interval=0.3)
    try:
        for i in range(10):
            rl.log(_row(i, params={"seed": i}, prompt="a 'quoted'; DROP TABLE requests; --"))
        await asyncio.sleep(0.1)
        assert await db.count() == 0, "rows should wait for the batch interval"
        await asyncio.sleep(0.5)
        assert await db.count() == 10
        assert rl.written == 10
        rl.log(_row(99))  # logged just before close: close flushes it
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
            logs[n % 2].log(_row(n * 100 + i))
            await asyncio.sleep(0)

    await asyncio.gather(*(user(n) for n in range(20)))
    for rl in logs:
        await rl.close()
    users = sorted(await db.users())
    assert users == sorted(1000 + n * 100 + i for n in range(20) for i in range(50))
    assert sum(rl.lost for rl in logs) == 0


async def test_locked_database_never_blocks_and_catches_up(request_log: RequestLog, db: Db) -> None:
    async with db.write_lock():  # another connection holds the write lock
        start = time.perf_counter()
        for i in range(100):
            request_log.log(_row(i))
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
        rl.log(_row(i))
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
        rl.log(_row(1))
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
        rl.log(_row(i))
    assert await rl.flush() is False
    assert rl.pending == 3 and rl.lost == 2
    await rl.close()
    assert rl.lost == 5


async def test_summary_and_prune(request_log: RequestLog) -> None:
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


async def test_stats_and_prune_cli(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    await (await RequestLog.open(db.target)).close()
    await db.insert_many(
        "INSERT INTO requests (created_at, user_id, command, status, total_s) "
        "VALUES (?, 5, ?, 'ok', 1.5)",
        [(time.time(), "poem"), (time.time() - 40 * 86400, "story")],
    )
    where = str(db.target)
    assert await asyncio.to_thread(_cli, "stats", "--db", where, "--days", "7") == 0
    out = capsys.readouterr().out
    assert "Requests (last 7 days): 1" in out and "/poem: 1 (1 ok)" in out and "/story" not in out
    assert await asyncio.to_thread(_cli, "stats", "--db", where, "--user", "5") == 0
    assert "Requests (all time): 2" in capsys.readouterr().out
    assert await asyncio.to_thread(_cli, "stats", "--db", where, "--user", "6") == 0
    assert "No requests logged (all time)." in capsys.readouterr().out
    assert await asyncio.to_thread(_cli, "prune", "--older-than", "30", "--db", where) == 0
    assert "deleted 1 request(s)" in capsys.readouterr().out
    assert await db.count() == 1


def test_sqlite_stats_cli_of_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _cli("stats", "--db", str(tmp_path / "missing.db")) == 1
    assert "no request log at" in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists()


# -- the writer never dies, and loses only what it must ------------------------------------


async def _until(predicate: object, timeout: float = 60.0) -> None:
    """Wait (polling) until ``predicate()`` (or the coroutine it returns) holds; generous
    timeouts, no speed assumption."""
    deadline = time.monotonic() + timeout
    while True:
        held = predicate()  # type: ignore[operator]
        if asyncio.iscoroutine(held):
            held = await held
        if held:
            return
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.005)


def test_storable_replaces_lone_surrogates_and_nul_only() -> None:
    assert storable("plain é 😀") == "plain é 😀"
    assert storable("\ud83d") == "\ufffd"
    assert storable("a\udc00b") == "a\ufffdb"
    assert storable("\ud83d\ude00") == "😀"  # a pair split in two code points is joined
    assert storable("a\x00b\x01") == "a\ufffdb\x01"  # PostgreSQL's text refuses NUL


async def test_lone_surrogates_and_nul_are_stored_replaced(db: Db) -> None:
    rl = await RequestLog.open(db.target, flush_interval=0.05)
    try:
        rl.log(_row(1, prompt="\ud83d", output="x\udc00", params={"w": "\ud83d"}, error="\x00"))
        rl.log(_row(2))
        assert await rl.flush() is True
        rl.log(_row(3))  # the writer is still alive
        assert await rl.flush() is True
    finally:
        await rl.close()
    assert rl.lost == 0 and await db.users() == [1001, 1002, 1003]
    row = await db.rows("SELECT prompt, output, params, error FROM requests WHERE user_id = 1001")
    assert row == [("\ufffd", "x\ufffd", '{"w": "\ufffd"}', "\ufffd")]


async def test_two_thousand_failures_in_a_row_then_recovery(unreachable: Unreachable) -> None:
    """The back-off is capped and computed without overflow (2**1025 used to raise and end
    the writer); tiny intervals make 2,000 real failures quick."""
    rl = await RequestLog.open(unreachable.target, flush_interval=0.0005, max_backoff=0.001)
    assert rl._writer is not None
    try:
        rl.log(_row(1))
        await _until(lambda: rl.failed_writes >= 2000 or rl._writer.done())  # type: ignore[union-attr]
        assert not rl._writer.done(), "the writer died"
        assert rl._backoff(5000) == rl.max_backoff
        unreachable.fix()
        await _until(lambda: rl.written == 1 or rl._writer.done())  # type: ignore[union-attr]
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
        rl.log(_row(1))
        rl.log(_row(2, tokens=2**70))  # too large for a 64-bit integer
        rl.log(_row(3))
        rl.log(_row(4, status=None))  # NOT NULL constraint
        rl.log(_row(5))
        with caplog.at_level(logging.ERROR, logger="bot.storage"):
            assert await rl.flush() is True
        rl.log(_row(6))
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
        rl.log(_row(1))
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
            rl.log(_row(i))
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
                rl.log(_row(i))
            first = asyncio.create_task(rl.flush())
            await _until(lambda: rl.writing)
            for i in range(3, 6):
                rl.log(_row(i))  # logged while the batch of 3 is being written
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
    rl.log(_row(1))
    with caplog.at_level(logging.INFO, logger="bot.storage"):
        await rl.close()
    assert rl._db is None and rl._reader is None
    with pytest.raises(Exception):  # noqa: B017  (each driver says "closed" its own way)
        await reader.fetch("SELECT 1")
    await _until(lambda: {t for t in threading.enumerate() if not t.daemon} <= before, 10)
    messages = [r.getMessage() for r in caplog.records]
    assert any("0 written, 0 pending, 1 lost" in m for m in messages), messages


async def _raise(exc: Exception) -> None:
    raise exc


# -- privacy: metadata only, retention, forget-me --------------------------------------------


async def test_metadata_only_stores_no_text(db: Db) -> None:
    rl = await RequestLog.open(db.target, store_text=False)
    rl.log(
        _row(
            1,
            command="name",
            prompt="secret",
            output="Ann Bo",
            params={"style": "english", "starts_with": "se", "members": [7], "seed": 3},
        )
    )
    await rl.close()
    row = await db.rows("SELECT prompt, output, params, user_id, command FROM requests")
    assert row == [(None, None, '{"members": [7], "seed": 3, "style": "english"}', 1001, "name")]


async def _insert(db: Db, rows: list[tuple[float, int, str, str]]) -> None:
    """(created_at, user_id, command, params) rows, written directly."""
    await db.insert_many(
        "INSERT INTO requests (created_at, user_id, command, params, status, guild_id) "
        "VALUES (?, ?, ?, ?, 'ok', 1)",
        rows,
    )


async def test_retention_is_pruned_by_the_running_log(db: Db) -> None:
    await (await RequestLog.open(db.target)).close()
    now = time.time()
    await _insert(db, [(now - 40 * 86400, 1, "poem", "{}"), (now - 10 * 86400, 2, "poem", "{}")])
    rl = await RequestLog.open(db.target, retention_days=30, prune_interval=0.05)
    try:
        await _until(lambda: _users_are(db, [2]))
        await _insert(db, [(now - 31 * 86400, 3, "poem", "{}")])  # ages past the limit later
        await _until(lambda: _users_are(db, [2]))  # pruned again, not only at start
    finally:
        await rl.close()
    keep = await RequestLog.open(db.target, retention_days=0)
    assert keep._pruner is None  # 0 keeps everything
    await _insert(db, [(now - 3000 * 86400, 4, "poem", "{}")])
    await asyncio.sleep(0.1)
    await keep.close()
    assert await db.users() == [2, 4]


async def _users_are(db: Db, users: list[int]) -> bool:
    return await db.users() == users


async def test_forget_deletes_the_users_rows_and_scrubs_mentions(db: Db) -> None:
    ann, bo, cy = 111111111111111111, 222222222222222222, 333333333333333333
    rl = await RequestLog.open(db.target, flush_interval=10)  # queued rows stay queued
    try:
        rl.log(RequestRow(user_id=ann, command="poem", status="ok"))
        rl.log(RequestRow(user_id=bo, command="name", status="ok", params={"members": [ann, cy]}))
        rl.log(RequestRow(user_id=cy, command="name", status="ok", params={"members": [bo]}))
        assert await rl.flush()
        rl.log(RequestRow(user_id=ann, command="story", status="ok"))  # still queued
        rl.log(RequestRow(user_id=cy, command="name", status="ok", params={"members": [ann]}))
        forgotten = await rl.forget(ann)
        assert (forgotten.deleted, forgotten.scrubbed) == (2, 2)
        assert await rl.flush()
    finally:
        await rl.close()
    rows = await db.rows("SELECT user_id, params FROM requests ORDER BY id")
    assert rows == [
        (bo, f'{{"members": [{cy}]}}'),
        (cy, f'{{"members": [{bo}]}}'),
        (cy, '{"members": []}'),
    ]
    assert str(ann) not in repr(rows)


# -- /stats: scoped figures, indexes, a separate read-only connection --------------------------


async def test_summary_scoped_to_a_guild_and_to_a_user(db: Db) -> None:
    rl = await RequestLog.open(db.target)
    now = time.time()
    for user, guild, latency in [
        (1, 10, 1.0),
        (1, 10, 2.0),
        (2, 10, 3.0),
        (3, 20, 9.0),
        (1, None, 5.0),
    ]:
        rl.log(_row(0, user_id=user, guild_id=guild, total_s=latency, created_at=now))
    try:
        assert await rl.flush()
        server = await rl.summary(7, guild_id=10)
        assert server.total == 3 and server.top_users == [(1, 2), (2, 1)]
        assert (server.latency_p50_s, server.latency_p95_s) == (2.0, 3.0)
        mine_here = await rl.summary(7, guild_id=10, user_id=1)
        assert mine_here.total == 2 and mine_here.top_users == []
        assert "Top users" not in mine_here.render()
        mine = await rl.summary(7, user_id=1)  # a DM: the caller's own, everywhere
        assert mine.total == 3 and mine.latency_p95_s == 5.0
        other = await rl.summary(7, guild_id=20)
        assert other.top_users == [(3, 1)]
    finally:
        await rl.close()


async def test_sqlite_guild_figures_read_covering_indexes_only(tmp_path: Path) -> None:
    path = tmp_path / "plan.db"
    await (await RequestLog.open(path)).close()
    from bot.storage import summarize

    plans: list[str] = []

    class Recorder:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        async def fetch(self, sql: str, args: list[object]) -> list[tuple]:  # type: ignore[type-arg]
            plans.extend(r[3] for r in self.db.execute("EXPLAIN QUERY PLAN " + sql, args))
            return self.db.execute(sql, args).fetchall()

    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO requests (created_at, user_id, command, status, guild_id, total_s, "
            "first_token_s) VALUES (?, 1, 'poem', 'ok', 5, 1.0, 0.1)",
            (time.time(),),
        )
        await summarize(Recorder(db), 7, guild_id=5)  # type: ignore[arg-type]
    scans = [p for p in plans if p.startswith(("SCAN", "SEARCH"))]
    assert scans and all("COVERING INDEX" in p for p in scans), plans


async def test_summary_reads_while_a_write_waits(db: Db) -> None:
    """Stats use their own read-only connection: a write stuck on a lock does not hold
    them up (on the writer's connection the query would queue behind the insert)."""
    rl = await RequestLog.open(db.target, flush_interval=0.05, busy_timeout_ms=60_000)
    rl.log(_row(1))
    assert await rl.flush()
    try:
        async with db.write_lock():
            rl.log(_row(2))
            flushing = asyncio.create_task(rl.flush())
            await _until(lambda: rl.writing)
            summary = await asyncio.wait_for(rl.summary(), 30)
            assert summary.total == 1 and rl.writing
            assert rl._reader is not None
            with pytest.raises(Exception, match=REFUSED_AS_READ_ONLY):
                await rl._reader.execute("CREATE TABLE spare (a INTEGER)")
        assert await flushing
    finally:
        await rl.close()
