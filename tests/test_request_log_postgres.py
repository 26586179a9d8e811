"""The request log on PostgreSQL only: a server that goes away and comes back, the table
vacuumed after a forget or a prune, processes migrating at once, the password kept out of
messages, and asyncpg missing. Everything else runs on both back ends (the ``db`` fixture
of the other storage tests)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.storage import RequestLog, RequestRow, StorageError, backend_for
from bot.storage.backend import without_password
from bot.storage.postgres import SCHEMA_VERSION
from tests.pg import PgServer
from tests.storage_db import Db, pg_database


def _row(user: int, **kw: object) -> RequestRow:
    return RequestRow(user_id=user, command="poem", status="ok", **kw)  # type: ignore[arg-type]


async def test_postgresql_server_that_goes_away_and_comes_back(
    pg_spare_server: PgServer,
) -> None:
    """Rows logged while the server is down stay queued and are written once it is back;
    the writer and the reader open new connections; nothing is lost."""
    server = pg_spare_server
    if not server.running:
        server.start()
    db = Db("postgresql", server.url(pg_database(server)))
    rl = await RequestLog.open(db.target, flush_interval=0.02, max_backoff=0.05)
    try:
        rl.log(_row(1, interaction_id=1))
        assert await rl.flush() is True
        assert (await rl.summary()).total == 1  # the reader is connected too
        server.stop()
        rl.log(_row(2, interaction_id=2))
        rl.log(_row(3, interaction_id=3))
        assert await rl.flush() is False
        assert rl.pending == 2 and rl.lost == 0
        with pytest.raises(StorageError):
            await rl.summary()
        server.start()
        assert await rl.flush() is True
        assert rl.pending == 0 and rl.last_error is None
        assert (await rl.summary()).total == 3
        found = await rl.find(3)
        assert found is not None and found.user_id == 3
    finally:
        await rl.close()
    assert await db.users() == [1, 2, 3]
    assert rl.lost == 0 and rl.written == 3


async def _vacuums(db: Db) -> int:
    rows = await db.rows("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'requests'")
    return int(rows[0][0])


async def test_postgresql_forget_and_prune_vacuum_the_table(pg_db: Db) -> None:
    db = pg_db
    rl = await RequestLog.open(db.target, flush_interval=60)
    try:
        rl.log(_row(1, prompt="forget me"))
        rl.log(_row(2, created_at=1000.0))
        assert await rl.flush()
        before = await _vacuums(db)
        await rl.forget(1)
        assert await _vacuums(db) == before + 1
        assert await rl.prune(1) == 1
        assert await _vacuums(db) == before + 2
        assert await rl.prune(1) == 0  # nothing deleted: no vacuum
        assert await _vacuums(db) == before + 2
    finally:
        await rl.close()
    assert await db.count() == 0


async def test_postgresql_forget_succeeds_when_the_vacuum_must_wait(
    pg_db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    """Another session holds the lock VACUUM needs past the lock wait: the forget is done
    (deleted, committed) and says so; the VACUUM is a warning."""
    db = pg_db
    rl = await RequestLog.open(db.target, flush_interval=60, busy_timeout_ms=100)
    try:
        rl.log(_row(1))
        rl.log(_row(2))
        assert await rl.flush()
        async with db._pg() as other, other.transaction():
            await other.execute("LOCK TABLE requests IN SHARE UPDATE EXCLUSIVE MODE")
            with caplog.at_level(logging.WARNING, logger="bot.storage"):
                assert (await rl.forget(1)).deleted == 1
    finally:
        await rl.close()
    assert await db.users() == [2]
    assert any("VACUUM after a deletion did not run" in r.getMessage() for r in caplog.records)


async def test_postgresql_processes_starting_together_migrate_once(pg_db: Db) -> None:
    db = pg_db
    logs = await asyncio.gather(*(RequestLog.open(db.target) for _ in range(4)))
    try:
        assert all(rl.available for rl in logs)
        for i, rl in enumerate(logs):
            rl.log(_row(i))
            assert await rl.flush()
    finally:
        for rl in logs:
            await rl.close()
    assert await db.version() == SCHEMA_VERSION
    assert await db.rows("SELECT COUNT(*) FROM schema_version") == [(1,)]
    assert sorted(await db.users()) == [0, 1, 2, 3]


async def test_postgresql_figures_of_a_database_without_the_log_say_so(pg_db: Db) -> None:
    db = pg_db
    rl = RequestLog(db.target)
    with pytest.raises(StorageError, match=r"^no request log at postgresql://"):
        await rl.summary()
    await rl.close()


async def test_the_password_stays_out_of_messages(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"postgresql://bot:s3cret-pw@/requests?host={tmp_path}/nothing"
    assert without_password(url) == f"postgresql://bot@/requests?host={tmp_path}/nothing"
    assert without_password("postgresql://u:p@[::1]:5433/d") == "postgresql://u@[::1]:5433/d"
    with caplog.at_level(logging.DEBUG, logger="bot.storage"):
        rl = await RequestLog.open(url, flush_interval=60)  # connection refused: retried
        rl.log(_row(1))
        assert await rl.flush() is False
        with pytest.raises(StorageError) as raised:
            await rl.prune(1)
        await rl.close()
    assert rl.lost == 1
    said = "\n".join([r.getMessage() for r in caplog.records] + [str(raised.value), rl.health()])
    assert "bot@/requests" in said and "s3cret" not in said


def test_without_asyncpg_a_postgresql_url_is_refused_with_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # import asyncpg raises ImportError
    monkeypatch.delitem(sys.modules, "bot.storage.postgres")
    url = "postgresql://bot:pw@db.example/requests"
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"BOT_DB_URL": url})
    assert str(raised.value) == (
        "BOT_DB_URL (db_url): needs the asyncpg package: pip install "
        "'lstm-discord-bot[postgres]' (or use a sqlite:/// URL), got Secret('********')"
    )
    with pytest.raises(StorageError, match=r"lstm-discord-bot\[postgres\]"):
        backend_for(url)
    assert load_settings(environ={"BOT_DB_URL": "sqlite:///x.db"}).log_database == "sqlite:///x.db"
