"""/forget-me across processes sharing one PostgreSQL log (bot.storage.broadcast): two
RequestLogs on one database stand for two shard processes. A forget in one reaches the
rows the other has queued, writes during the forget, or logs later; its notices fit in
NOTIFY's payload; the listening connection comes back when it drops."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from bot.storage import RequestLog
from bot.storage.broadcast import APPLICATION_NAME, CHANNEL, parse, payloads
from tests.helpers import request_row, until
from tests.storage_db import Db

ANN, BO = 111111111111111111, 222222222222222222
SENTINEL = "ann-secret-prompt"


async def _rows_of(db: Db, user: int) -> int:
    return int((await db.rows("SELECT COUNT(*) FROM requests WHERE user_id = ?", (user,)))[0][0])


def _listened(log: RequestLog) -> int:
    """How many times ``log`` started listening for forgets."""
    return 0 if log._listener is None else log._listener.connections


async def _texts(db: Db) -> str:
    return repr(await db.rows("SELECT prompt, output, params FROM requests"))


async def test_a_forget_reaches_the_rows_another_process_has_queued_or_logs_later(
    pg_db: Db,
) -> None:
    a = await RequestLog.open(pg_db.target, flush_interval=0.05)
    b = await RequestLog.open(pg_db.target, flush_interval=60)  # B's rows stay queued
    try:
        before = time.time() - 1
        b.log(request_row(ANN, created_at=before, prompt=SENTINEL, interaction_id=1))
        b.log(request_row(BO, prompt=SENTINEL, output=SENTINEL, interaction_id=2, parent_id=1))
        b.log(request_row(ANN, created_at=time.time() + 600, interaction_id=3))  # after it
        await a.forget(ANN)
        await until(lambda: b.pending == 2)
        b.log(request_row(ANN, created_at=before, prompt=SENTINEL))  # a late row: dropped
        b.log(request_row(BO, prompt=SENTINEL, interaction_id=4, parent_id=2))  # cleared
        assert await b.flush()
    finally:
        await b.close()
        await a.close()
    assert b.forgotten_late == 2 and b.lost == 0
    rows = await pg_db.rows("SELECT user_id, interaction_id FROM requests ORDER BY id")
    assert rows == [(BO, 2), (ANN, 3), (BO, 4)]
    assert SENTINEL not in await _texts(pg_db)


async def test_a_row_another_process_writes_during_the_forget_is_deleted(pg_db: Db) -> None:
    """B's insert of Ann's row waits (in a trigger, on a lock the test holds) while A's
    forget runs and commits, so A cannot see it; B deletes it when the notice comes, and
    clears a press on it that B logs later."""
    assert isinstance(pg_db.target, str)
    holder = await asyncpg.connect(pg_db.target)
    a = await RequestLog.open(pg_db.target, flush_interval=0.05)
    b = await RequestLog.open(pg_db.target, flush_interval=60, busy_timeout_ms=60_000)
    try:
        await pg_db.run(
            "CREATE FUNCTION held() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "PERFORM pg_advisory_xact_lock_shared(7); RETURN NEW; END $$; "
            "CREATE TRIGGER held BEFORE INSERT ON requests FOR EACH ROW EXECUTE FUNCTION held();"
        )
        await holder.execute("SELECT pg_advisory_lock(7)")
        b.log(request_row(ANN, prompt=SENTINEL, interaction_id=1))
        write = asyncio.create_task(b.flush())
        await until(lambda: b.writing)
        assert (await a.forget(ANN)).deleted == 0  # B's row is not committed yet
        await holder.execute("SELECT pg_advisory_unlock(7)")
        assert await write
        await until(lambda: b.forgotten_late == 1)  # written after the forget, then deleted
        assert await _rows_of(pg_db, ANN) == 0
        b.log(request_row(BO, prompt=SENTINEL, interaction_id=2, parent_id=1))  # cleared
        assert await b.flush()
    finally:
        await holder.close()
        await b.close()
        await a.close()
    assert SENTINEL not in await _texts(pg_db)


async def test_the_listening_connection_comes_back_when_it_drops(pg_db: Db) -> None:
    a = await RequestLog.open(pg_db.target, flush_interval=0.05)
    b = await RequestLog.open(pg_db.target, flush_interval=60)
    try:
        killed = await pg_db.rows(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = ?",
            (APPLICATION_NAME,),
        )
        assert len(killed) == 2
        await until(lambda: _listened(a) == _listened(b) == 2)
        b.log(request_row(ANN, prompt=SENTINEL))
        await a.forget(ANN)
        await until(lambda: b.forgotten_late == 1)
        assert b.pending == 0
    finally:
        await b.close()
        await a.close()


def test_a_forget_of_many_requests_fits_in_notify_payloads() -> None:
    ids = {-(2**63)} | set(range(2**63 - 1000, 2**63))
    notices = [parse(p) for p in payloads("f00d", ANN, 12.5, ids)]
    assert len(notices) == 4
    assert all(len(p.encode()) <= 8000 for p in payloads("f00d", ANN, 12.5, ids))
    assert set().union(*(n.ids for n in notices)) == ids
    assert {(n.origin, n.user, n.at) for n in notices} == {("f00d", ANN, 12.5)}
    assert [parse(p).ids for p in payloads("f00d", ANN, 1.0, set())] == [frozenset()]
    assert CHANNEL.isidentifier()
