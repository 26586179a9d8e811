"""Request rows found by interaction id (the reply buttons' key) and linked to a parent row,
on both back ends (the ``db`` fixture)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.storage import MIGRATIONS, RequestLog, RequestRow
from tests.storage_db import Db


async def test_find_flushes_queued_rows_and_reads_the_row_back(db: Db) -> None:
    log = await RequestLog.open(db.target, flush_interval=60)  # never on its own
    try:
        parent = RequestRow(
            user_id=7,
            command="lovecraft",
            status="ok",
            model="lovecraft",
            params={"length": 60, "seed": 5},
            prompt="The door",
            output="The door opened.",
            interaction_id=111,
        )
        log.log(parent)
        log.log(RequestRow(user_id=8, command="lovecraft", status="ok", interaction_id=222,
                           parent_id=111))  # fmt: skip
        found = await log.find(111)  # still queued: find writes it first
        assert found is not None
        assert (found.user_id, found.command, found.model) == (7, "lovecraft", "lovecraft")
        assert found.params == {"length": 60, "seed": 5} and found.output == "The door opened."
        press = await log.find(222)
        assert press is not None and press.parent_id == 111 and press.user_id == 8
        assert await log.find(333) is None
    finally:
        await log.close()


async def test_metadata_only_rows_are_found_without_their_text(db: Db) -> None:
    log = await RequestLog.open(db.target, store_text=False)
    try:
        log.log(RequestRow(user_id=7, command="poem", status="ok", prompt="secret",
                           output="secret", interaction_id=5))  # fmt: skip
        found = await log.find(5)
        assert found is not None and found.prompt is None and found.output is None
    finally:
        await log.close()


async def test_sqlite_older_database_gains_the_link_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the schema before the buttons' migration
        db.executescript("".join(MIGRATIONS[:3]) + "PRAGMA user_version = 3;")
        db.execute(
            "INSERT INTO requests (created_at, user_id, command, status) "
            "VALUES (1, 2, 'poem', 'ok')"
        )
    log = await RequestLog.open(path)
    try:
        log.log(RequestRow(user_id=3, command="poem", status="ok", interaction_id=9, parent_id=4))
        found = await log.find(9)
        assert found is not None and found.parent_id == 4
    finally:
        await log.close()
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT user_id, interaction_id, parent_id FROM requests ORDER BY id")
        assert rows.fetchall() == [(2, None, None), (3, 9, 4)]
