"""/stats from the request log on each back end (the ``db`` fixture): the summary and prune,
figures scoped to a guild and a user, the text (every line, in a fixed order, with its p95),
the window's edges, nearest-rank percentiles, the order of commands and top users, prune at
the cut-off, the stats and prune commands, a missing SQLite file, SQLite's guild figures read
from covering indexes only, and a separate read-only connection that reads while a write
waits."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from pathlib import Path

import pytest

from bot.storage import RequestLog, RequestRow, StorageError, Summary, backend_for, summarize
from bot.storage.backend import Connection
from tests.helpers import request_row, until
from tests.storage_db import REFUSED_AS_READ_ONLY, Db

DAY = 86400.0
NOW = 1_000_000_000.0  # a fixed "now", far from the real clock


async def test_summary_and_prune(request_log: RequestLog) -> None:
    now = time.time()
    for i, latency in enumerate([1.0, 2.0, 3.0, 4.0, 10.0]):
        request_log.log(
            request_row(
                1000,
                command="poem",
                total_s=latency,
                first_token_s=latency / 10,
                created_at=now - i,
            )
        )
    request_log.log(
        request_row(1001, command="names", status="refused", total_s=0.01, created_at=now)
    )
    request_log.log(request_row(1001, command="names", total_s=5.0, created_at=now))
    request_log.log(request_row(1002, command="story", total_s=99.0, created_at=now - 30 * 86400))
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
        rl.log(request_row(user, guild_id=guild, total_s=latency, created_at=now))
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


def test_stats_text_shows_the_p95() -> None:
    summary = Summary(7, 2, [("poem", 2, 2)], {"ok": 2}, [], 1.0, 2.5, None)
    assert "Latency: median 1.00s, p95 2.50s, first text median n/a" in summary.render()


def test_stats_text_lists_everything_in_a_fixed_order() -> None:
    summary = Summary(
        days=7,
        total=6,
        by_command=[("poem", 4, 3), ("name", 2, 2)],
        by_status={"ok": 5, "busy": 1},
        top_users=[(11, 4), (22, 2)],
        latency_p50_s=1.234,
        latency_p95_s=None,
        first_token_p50_s=0.5,
    )
    assert summary.render() == (
        "Requests (last 7 days): 6\n"
        "  /poem: 4 (3 ok)\n"
        "  /name: 2 (2 ok)\n"
        "Status: busy 1, ok 5\n"
        "Latency: median 1.23s, p95 n/a, first text median 0.50s\n"
        "Top users: 11 (4), 22 (2)"
    )
    assert summary.render(mention_users=True, title="Server").splitlines()[::5] == [
        "Server (last 7 days): 6",
        "Top users: <@11> (4), <@22> (2)",
    ]


async def written(db: Db, rows: list[RequestRow]) -> Db:
    await (await RequestLog.open(db.target)).close()  # the schema
    await db.insert_many(
        "INSERT INTO requests (created_at, user_id, command, status, total_s, first_token_s,"
        " guild_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (r.created_at, r.user_id, r.command, r.status, r.total_s, r.first_token_s, 1)
            for r in rows
        ],
    )
    return db


async def connect(db: Db) -> Connection:
    return await backend_for(db.target).connect(busy_timeout_ms=1000)


def row(age_s: float, user: int = 1, command: str = "poem", status: str = "ok", **kw) -> RequestRow:
    return RequestRow(user_id=user, command=command, status=status, created_at=NOW - age_s, **kw)


async def test_the_window_ends_exactly_days_before_now(db: Db) -> None:
    await written(db, [row(DAY - 0.5), row(DAY + 0.5), row(10 * DAY)])
    conn = await connect(db)
    try:
        assert (await summarize(conn, 1, now=NOW)).total == 1
        assert (await summarize(conn, 1, now=NOW + DAY)).total == 0  # "now" is the one given
        assert (await summarize(conn, None, now=NOW)).total == 3
    finally:
        await conn.close()


async def test_percentiles_are_nearest_rank_over_successful_requests(db: Db) -> None:
    one = await written(db, [row(1, total_s=2.0, first_token_s=0.3)])
    conn = await connect(one)
    try:
        summary = await summarize(conn, now=NOW)
        assert (summary.latency_p50_s, summary.latency_p95_s) == (2.0, 2.0)
        assert summary.first_token_p50_s == 0.3
    finally:
        await conn.close()


async def test_commands_by_requests_and_the_top_five_users(db: Db) -> None:
    rows = [row(1, user=u, command="lovecraft", status="busy") for u in (1, 2, 3)]
    rows += [row(1, user=u, command="name") for u in (4, 5)]
    rows += [row(1, user=6), row(1, user=6)]  # user 6: the most requests
    conn = await connect(await written(db, rows))
    try:
        summary = await summarize(conn, now=NOW)
        # by requests (3, 2, 2), ties by name; not by successful requests (0, 2, 2)
        assert summary.by_command == [("lovecraft", 3, 0), ("name", 2, 2), ("poem", 2, 2)]
        assert summary.top_users == [(6, 2), (1, 1), (2, 1), (3, 1), (4, 1)]
    finally:
        await conn.close()


async def test_prune_deletes_exactly_what_is_older_than_the_cut_off(db: Db) -> None:
    await written(db, [row(DAY - 0.5), row(DAY + 0.5), row(3 * DAY)])
    log = await RequestLog.open(db.target)
    try:
        assert await log.prune(1, now=NOW) == 2
        assert await log.prune(1, now=NOW) == 0
    finally:
        await log.close()


async def test_sqlite_figures_of_a_missing_file_say_so(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "log.db"
    log = RequestLog(path)
    with pytest.raises(StorageError, match=rf"^no request log at {re.escape(str(path))}$"):
        await log.summary()
    await log.close()


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


async def test_sqlite_guild_figures_read_covering_indexes_only(tmp_path: Path) -> None:
    path = tmp_path / "plan.db"
    await (await RequestLog.open(path)).close()
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
    rl.log(request_row(1001))
    assert await rl.flush()
    try:
        async with db.write_lock():
            rl.log(request_row(1002))
            flushing = asyncio.create_task(rl.flush())
            await until(lambda: rl.writing)
            summary = await asyncio.wait_for(rl.summary(), 30)
            assert summary.total == 1 and rl.writing
            assert rl._reader is not None
            with pytest.raises(Exception, match=REFUSED_AS_READ_ONLY):
                await rl._reader.execute("CREATE TABLE spare (a INTEGER)")
        assert await flushing
    finally:
        await rl.close()
