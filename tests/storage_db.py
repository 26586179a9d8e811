"""The request-log database of a storage test, on each back end: a SQLite file in the
test's directory, or a fresh database on one PostgreSQL server per test session
(:mod:`tests.pg`). Tests that take the ``db`` fixture run once per back end.

:class:`Db` reads and writes the database around the code under test (sqlite3 or asyncpg
directly), with the log's SQL written once with ``?`` placeholders.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.storage import RequestLog
from bot.storage.backend import POSTGRESQL, SQLITE, migrations
from bot.storage.postgres import numbered
from tests.pg import PgServer

BACKENDS = (SQLITE, POSTGRESQL)
_names = itertools.count()


class Db:
    """One test's request-log database: ``target`` opens it (``RequestLog.open``)."""

    def __init__(self, kind: str, target: Path | str, path: Path | None = None) -> None:
        self.kind = kind
        self.target = target
        self.path = path  # the SQLite file (None on PostgreSQL)

    @property
    def sqlite(self) -> bool:
        return self.kind == SQLITE

    @contextlib.asynccontextmanager
    async def _pg(self) -> AsyncIterator[asyncpg.Connection]:
        assert isinstance(self.target, str)
        conn = await asyncpg.connect(self.target, server_settings={"lock_timeout": "5000"})
        try:
            yield conn
        finally:
            await conn.close()

    async def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.path is not None:
            with contextlib.closing(sqlite3.connect(self.path)) as db:
                return [tuple(r) for r in db.execute(sql, args)]
        async with self._pg() as conn:
            return [tuple(r) for r in await conn.fetch(numbered(sql), *args)]

    async def run(self, sql: str, args: Sequence[Any] = ()) -> None:
        """One statement with ``args``, or a script of several without."""
        if self.path is not None:
            with contextlib.closing(sqlite3.connect(self.path, timeout=5)) as db:
                if args:
                    db.execute(sql, args)
                else:
                    db.executescript(sql)
                db.commit()
            return
        async with self._pg() as conn:
            await conn.execute(numbered(sql), *args)

    async def insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if self.path is not None:
            with contextlib.closing(sqlite3.connect(self.path, timeout=5)) as db:
                db.executemany(sql, rows)
                db.commit()
            return
        async with self._pg() as conn:
            await conn.executemany(numbered(sql), rows)

    async def users(self) -> list[int]:
        return [r[0] for r in await self.rows("SELECT user_id FROM requests ORDER BY id")]

    async def count(self) -> int:
        return int((await self.rows("SELECT COUNT(*) FROM requests"))[0][0])

    async def version(self) -> int:
        """The schema version the database records."""
        if self.sqlite:
            return int((await self.rows("PRAGMA user_version"))[0][0])
        return int((await self.rows("SELECT max(version) FROM schema_version"))[0][0])

    async def make_schema(self, version: int) -> None:
        """The schema as this back end's first ``version`` migrations left it."""
        steps = migrations(self.kind)[:version]
        if self.sqlite:
            await self.run("".join(steps) + f"PRAGMA user_version = {version};")
        else:
            await self.run(
                "CREATE TABLE schema_version (version INTEGER NOT NULL);"
                + "".join(steps)
                + f"INSERT INTO schema_version VALUES ({version});"
            )

    async def set_version(self, version: int) -> None:
        if self.sqlite:
            await self.run(f"PRAGMA user_version = {version};")
        else:
            await self.run(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
                f"DELETE FROM schema_version; INSERT INTO schema_version VALUES ({version});"
            )

    @contextlib.asynccontextmanager
    async def write_lock(self) -> AsyncIterator[None]:
        """Another connection holds the write lock: the log's writes wait (up to its busy
        timeout, then fail), its reads do not."""
        if self.path is not None:
            other = sqlite3.connect(self.path, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                yield
                other.execute("COMMIT")
            finally:
                other.close()
            return
        async with self._pg() as conn, conn.transaction():
            await conn.execute("LOCK TABLE requests IN EXCLUSIVE MODE")
            yield

    async def drop(self) -> None:
        """Back to an empty database."""
        if self.path is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        else:
            await self.run("DROP TABLE IF EXISTS requests, schema_version")


READ_ONLY = {  # makes the log's own writer connection refuse writes (as root too)
    SQLITE: "PRAGMA query_only = ON",
    POSTGRESQL: "SET default_transaction_read_only = on",
}
REFUSED_AS_READ_ONLY = r"readonly|read-only"


class Unreachable:
    """A database the log cannot reach yet, and :meth:`fix` that makes it reachable: a
    SQLite path under a file where a directory should be, or a PostgreSQL server that is
    stopped (connection refused) and then started."""

    def __init__(self, target: Path | str, blocker: Path | None, server: PgServer | None):
        self.target = target
        self._blocker = blocker
        self._server = server
        self.db = Db(SQLITE, target, target) if isinstance(target, Path) else Db(POSTGRESQL, target)

    def fix(self) -> None:
        if self._blocker is not None:
            self._blocker.unlink()
        else:
            assert self._server is not None
            self._server.start()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the whole test session (started on first use)."""
    server = PgServer()
    try:
        yield server
    finally:
        server.close()


def pg_database(server: PgServer) -> str:
    """A new empty database on ``server``; its name."""
    name = f"test_{next(_names)}"
    server.create_database(name)
    return name


def drop_database(server: PgServer, name: str) -> None:
    if server.running:
        server.drop_database(name)


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """The test's database, once on SQLite and once on PostgreSQL."""
    if request.param == SQLITE:
        path = tmp_path / "log.db"
        yield Db(SQLITE, path, path)
        return
    yield from _pg_db(request.getfixturevalue("pg_server"))


@pytest.fixture
def pg_db(pg_server: PgServer) -> Iterator[Db]:
    """A database on PostgreSQL only, for what only PostgreSQL does."""
    yield from _pg_db(pg_server)


def _pg_db(server: PgServer) -> Iterator[Db]:
    name = pg_database(server)
    try:
        yield Db(POSTGRESQL, server.url(name))
    finally:
        drop_database(server, name)


@pytest.fixture(scope="session")
def pg_spare_server() -> Iterator[PgServer]:
    """A second server, which tests stop and start (:class:`Unreachable`)."""
    server = PgServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def unreachable(db: Db, tmp_path: Path, request: pytest.FixtureRequest) -> Unreachable:
    """A database of the test's back end that cannot be opened until fixed."""
    if db.sqlite:
        blocker = tmp_path / "notadir"
        blocker.write_text("a file where a directory should be")
        return Unreachable(blocker / "log.db", blocker, None)
    server: PgServer = request.getfixturevalue("pg_spare_server")
    if not server.running:
        server.start()
    url = server.url(pg_database(server))
    server.stop()
    return Unreachable(url, None, server)


@pytest.fixture
async def request_log(db: Db) -> AsyncIterator[RequestLog]:
    """A log on ``db`` that writes every 50 ms and waits 100 ms for a lock."""
    log = await RequestLog.open(db.target, flush_interval=0.05, busy_timeout_ms=100)
    yield log
    await log.close()


def refusing_trigger(db: Db, name: str, event: str, when: str, sqlite: str, message: str) -> str:
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


def drop_trigger(db: Db, name: str) -> str:
    """SQL dropping a :func:`refusing_trigger`."""
    if db.sqlite:
        return f"DROP TRIGGER {name};"
    return f"DROP TRIGGER {name} ON requests; DROP FUNCTION {name}();"
