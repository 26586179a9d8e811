"""Privacy in the request log on each back end (the ``db`` fixture): metadata-only rows,
retention pruned by the running log, /forget-me deleting a user's rows and scrubbing their
mentions (queued rows too, every one counted, other people's rows kept), and a prune or
forget that fails deleting nothing and leaving nothing locked. (Forget's chains and on-disk
copies: test_request_log_privacy.py.)"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from bot.storage import RequestLog, RequestRow
from bot.storage.forget import without_member
from tests.helpers import request_row, until
from tests.storage_db import Db, drop_trigger, refusing_trigger


async def test_metadata_only_stores_no_text(db: Db) -> None:
    rl = await RequestLog.open(db.target, store_text=False)
    rl.log(
        request_row(
            1001,
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
        await until(lambda: _users_are(db, [2]))
        await _insert(db, [(now - 31 * 86400, 3, "poem", "{}")])  # ages past the limit later
        await until(lambda: _users_are(db, [2]))  # pruned again, not only at start
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


async def test_a_prune_that_fails_deletes_nothing(db: Db) -> None:
    log = await RequestLog.open(db.target, flush_interval=60)
    try:
        for user in (1, 2, 3):
            log.log(request_row(user, created_at=1000.0 + user))
        assert await log.flush()
        # SQLite: RAISE keeps what the statement deleted before it; only a rollback undoes it
        await db.run(
            refusing_trigger(
                db, "keep", "DELETE", "OLD.user_id = 2", "SELECT RAISE(FAIL, 'kept')", "kept"
            )
        )
        with pytest.raises(Exception, match="kept"):
            await log.prune(1)
        await db.run(drop_trigger(db, "keep"))  # fails if the log kept it locked
        log.log(request_row(4))
        assert await log.flush()
    finally:
        await log.close()
    assert await db.users() == [1, 2, 3, 4]


async def test_a_retention_under_a_day_is_applied(db: Db) -> None:
    log = await RequestLog.open(db.target, retention_days=0.5)
    try:
        assert log._pruner is not None
    finally:
        await log.close()


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


@pytest.mark.parametrize("params", ["[7]", "7", '"7"', "not json"])
def test_params_that_are_not_an_object_are_left_alone(params: str) -> None:
    assert without_member(params, 7) is None


async def test_forget_counts_every_queued_row_it_scrubs(db: Db) -> None:
    log = await RequestLog.open(db.target, flush_interval=60)
    try:
        for _ in range(2):
            log.log(request_row(9, command="name", params={"members": [7, 8]}))
        forgotten = await log.forget(7)
        assert (forgotten.deleted, forgotten.scrubbed) == (0, 2)
    finally:
        await log.close()


async def test_a_forget_that_fails_deletes_nothing(db: Db) -> None:
    log = await RequestLog.open(db.target, flush_interval=60)
    try:
        log.log(request_row(7))
        log.log(request_row(9, command="name", params={"members": [7]}))
        assert await log.flush()
        await db.run(
            refusing_trigger(
                db, "frozen", "UPDATE", "1 = 1", "SELECT RAISE(ABORT, 'frozen')", "frozen"
            )
        )
        with pytest.raises(Exception, match="frozen"):
            await log.forget(7)
        await db.run(drop_trigger(db, "frozen"))  # fails if the log kept it locked
        log.log(request_row(5))
        assert await log.flush()
    finally:
        await log.close()
    assert await db.users() == [7, 9, 5]
