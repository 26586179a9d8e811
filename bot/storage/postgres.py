"""The PostgreSQL back end (asyncpg, the ``postgres`` extra): migrations from
``migrations/postgresql`` recorded in a ``schema_version`` table, applied under an advisory
lock so processes starting together migrate once; a writer connection whose lock waits are
bounded like SQLite's busy timeout, and a read-only one.

PostgreSQL does not overwrite a deleted row: it stays in the table's pages as a dead tuple
until VACUUM marks its space free, and in the write-ahead log until that segment is
recycled. After a forget or a prune the table is vacuumed (:meth:`PostgresConnection.scrub`);
the bytes may still sit in free space, WAL segments, backups and replicas, which are the
database operator's to protect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from bot.storage.backend import POSTGRESQL, StorageError, migrations, without_password
from bot.storage.rows import INSERT, Values

log = logging.getLogger(__name__)

MIGRATIONS: tuple[str, ...] = migrations(POSTGRESQL)
SCHEMA_VERSION = len(MIGRATIONS)
MIGRATION_LOCK = 0x4C53544D  # pg_advisory_xact_lock key: one migrating process at a time
CONNECT_TIMEOUT_S = 10.0
_PLACEHOLDER = re.compile(r"\?")


def numbered(sql: str) -> str:
    """The log's SQL, written with ``?``, with PostgreSQL's ``$1``, ``$2``... instead."""
    count = 0

    def number(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)


def about_the_row(exc: BaseException) -> bool:
    """A value the server or the driver refuses (class 22 data exceptions: out of range,
    bad encoding; class 23: a constraint), which no other row shares. Anything else (the
    connection lost, a lock wait timed out, read-only, disk full, an error raised by a
    trigger) is the database's, and the whole batch waits."""
    return isinstance(exc, asyncpg.DataError | asyncpg.IntegrityConstraintViolationError)


def _affected(status: str) -> int:
    """The row count of a command status such as ``DELETE 3`` or ``INSERT 0 1``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresConnection:
    """An asyncpg connection as the request log uses it (see :class:`Connection`)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @property
    def closed(self) -> bool:
        return bool(self.conn.is_closed())

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(record) for record in await self.conn.fetch(numbered(sql), *args)]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return _affected(await self.conn.execute(numbered(sql), *args))

    async def insert(self, rows: list[Values]) -> None:
        async with self.conn.transaction():
            await self.conn.executemany(numbered(INSERT), rows)

    async def insert_each(self, rows: list[Values]) -> list[tuple[Values, Exception]]:
        bad: list[tuple[Values, Exception]] = []
        sql = numbered(INSERT)
        async with self.conn.transaction():
            for values in rows:
                try:
                    async with self.conn.transaction():  # a savepoint: a refused row only
                        await self.conn.execute(sql, *values)
                except Exception as exc:
                    if not about_the_row(exc):
                        raise
                    bad.append((values, exc))
        return bad

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self.conn.transaction():
            yield

    async def scrub(self) -> None:
        """VACUUM the table: the deleted rows' space is marked free for reuse (it is not
        zeroed; see the module's note). The rows are already deleted and committed, so a
        VACUUM that cannot run now (another one holds the table longer than the lock wait)
        is a warning, not a failure: autovacuum reclaims the space later."""
        try:
            await self.conn.execute("VACUUM requests")
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("request log: VACUUM after a deletion did not run (%s)", exc)

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.conn.close(), CONNECT_TIMEOUT_S)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self.conn.terminate()


async def _migrate(conn: asyncpg.Connection, where: str) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        version = await conn.fetchval("SELECT max(version) FROM schema_version")
        if version is None:
            await conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            version = 0
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{where}: schema version {version} is newer than this bot knows "
                f"({SCHEMA_VERSION}); upgrade the bot or point BOT_DB_URL at another database"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            await conn.execute(MIGRATIONS[target - 1])
            await conn.execute("UPDATE schema_version SET version = $1", target)
            log.info("request log %s: migrated schema to version %d", where, target)


class PostgresBackend:
    """The request log in a PostgreSQL database."""

    kind = POSTGRESQL

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = without_password(url)

    async def _connect(self, busy_timeout_ms: int, **settings: str) -> asyncpg.Connection:
        return await asyncpg.connect(
            self.url,
            timeout=CONNECT_TIMEOUT_S,
            server_settings={"lock_timeout": str(int(busy_timeout_ms)), **settings},
        )

    async def connect(self, *, busy_timeout_ms: int) -> PostgresConnection:
        conn = await self._connect(busy_timeout_ms)
        try:
            await _migrate(conn, self.where)
        except BaseException:
            conn.terminate()
            raise
        return PostgresConnection(conn)

    async def connect_read_only(self, *, busy_timeout_ms: int) -> PostgresConnection:
        conn = await self._connect(busy_timeout_ms, default_transaction_read_only="on")
        try:
            exists = await conn.fetchval("SELECT to_regclass('requests') IS NOT NULL")
        except BaseException:
            conn.terminate()
            raise
        if not exists:
            conn.terminate()
            raise StorageError(f"no request log at {self.where}")
        return PostgresConnection(conn)

    def about_the_row(self, exc: BaseException) -> bool:
        return about_the_row(exc)

    def is_database_error(self, exc: BaseException) -> bool:
        return isinstance(
            exc, asyncpg.PostgresError | asyncpg.InterfaceError | OSError | TimeoutError
        )
