"""The request log's figures and erasures at their edges: /stats text, the time window and
percentiles, the order of commands and top users, pruning at the cut-off, /forget-me counts
and what it leaves of other people's rows, and flush's answer."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.storage import RequestLog, RequestRow, StorageError, Summary, backend_for, summarize
from bot.storage.backend import Connection
from tests.storage_db import Db

DAY = 86400.0
NOW = 1_000_000_000.0  # a fixed "now", far from the real clock


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


async def test_forget_counts_every_row_and_keeps_other_peoples(db: Db) -> None:
    log = await RequestLog.open(db.target, flush_interval=60)
    try:
        for _ in range(2):
            log.log(RequestRow(user_id=7, command="poem", status="ok"))
        assert await log.flush()
        log.log(RequestRow(user_id=7, command="poem", status="ok"))  # still queued
        log.log(RequestRow(user_id=7, command="poem", status="ok"))
        named = {"members": [7, 8], "style": "jinyong", "starts_with": "王"}
        log.log(RequestRow(user_id=9, command="name", status="ok", params=named))
        log.log(RequestRow(user_id=9, command="name", status="ok", params={"count": 2}))
        forgotten = await log.forget(7)
        assert (forgotten.deleted, forgotten.scrubbed) == (4, 1)
        assert await log.flush() is True
        stored = await db.rows("SELECT user_id, params FROM requests")
        kept = {"members": [8], "starts_with": "王", "style": "jinyong"}
        # other people's rows are kept, the erased id gone, stored as any other row would be
        assert sorted(stored) == sorted(
            [
                (9, json.dumps(kept, ensure_ascii=False, sort_keys=True)),
                (9, json.dumps({"count": 2})),
            ]
        )
    finally:
        await log.close()


async def test_flush_answers_true_when_nothing_is_left_to_write(db: Db) -> None:
    log = await RequestLog.open(db.target)
    try:
        assert await log.flush() is True
        log.log(RequestRow(user_id=1, command="poem", status="ok"))
        assert await log.flush() is True
        assert log.pending == 0 and log.written == 1
    finally:
        await log.close()


async def test_sqlite_figures_of_a_missing_file_say_so(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "log.db"
    log = RequestLog(path)
    with pytest.raises(StorageError, match=rf"^no request log at {re.escape(str(path))}$"):
        await log.summary()
    await log.close()
