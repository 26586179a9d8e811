"""The SQLite back end: one file, private to the bot's user, in WAL mode; migrations from
``migrations/sqlite`` recorded in ``PRAGMA user_version``; a writer connection that zeroes
deleted rows (``secure_delete``) and a read-only one; the WAL checkpoint that leaves no
deleted text in ``-wal``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from bot.storage.backend import SQLITE, StorageError, migrations
from bot.storage.rows import INSERT, Values

log = logging.getLogger(__name__)

# Forward migrations; MIGRATIONS[i] takes the schema from user_version i to i + 1.
MIGRATIONS: tuple[str, ...] = migrations(SQLITE)
SCHEMA_VERSION = len(MIGRATIONS)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SIDE_FILES = ("-wal", "-shm", "-journal")
CHECKPOINT_TRIES = 3  # each waits up to busy_timeout for the readers


def about_the_row(exc: BaseException) -> bool:
    """Whether a failed insert was refused for its values (a constraint, a type SQLite
    cannot bind, an integer too large...) rather than because of the database (locked,
    busy, read-only, full, I/O, cannot open, corrupt), which no other row would escape."""
    database_level = isinstance(exc, OSError | sqlite3.OperationalError)
    # a plain DatabaseError: "file is not a database", corruption
    return not (database_level or type(exc) is sqlite3.DatabaseError)


async def rollback(db: aiosqlite.Connection) -> None:
    with contextlib.suppress(Exception):
        await db.rollback()


def make_private(path: Path) -> None:
    """Create the database file (and its directory, if the bot makes it) readable by the
    bot's user only: directory 0700, file 0600. An existing directory keeps its mode (the
    operator chose it: a volume, a shared parent); the bot's own files are tightened to 0600
    whatever their age, before SQLite opens them (SQLite gives ``-wal`` and ``-shm`` the
    database file's mode)."""
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, PRIVATE_DIR)  # mkdir's mode is masked by the umask
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE))
    tighten(path)


def tighten(path: Path) -> None:
    """The database file and its side files (``-wal``, ``-shm``) at 0600 where they are
    wider and the bot may change them."""
    for file in (path, *(Path(f"{path}{suffix}") for suffix in SIDE_FILES)):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
            if mode & 0o077:
                os.chmod(file, mode & 0o700)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("request log: cannot make %s private: %s", file, exc)


async def _migrate(db: aiosqlite.Connection, path: Path) -> None:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"{path}: schema version {version} is newer than this bot knows ({SCHEMA_VERSION}); "
            "upgrade the bot or point BOT_DB_PATH at another file"
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        # executescript() commits first; the explicit transaction makes each step atomic.
        script = f"BEGIN;\n{MIGRATIONS[target - 1]}\nPRAGMA user_version = {target};\nCOMMIT;"
        try:
            await db.executescript(script)
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                await db.rollback()
            raise
        log.info("request log %s: migrated schema to version %d", path, target)


async def connect(path: Path, *, busy_timeout_ms: int = 1000) -> aiosqlite.Connection:
    """Open (creating if needed, private to the bot's user) and migrate the database; close
    it again on failure. Deleted rows are overwritten with zeros (``secure_delete``)."""
    make_private(path)
    db = await aiosqlite.connect(path)
    try:
        await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        await db.execute("PRAGMA secure_delete = ON")
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await _migrate(db, path)
        tighten(path)
    except BaseException:
        await db.close()
        raise
    return db


async def connect_read_only(path: Path, *, busy_timeout_ms: int = 1000) -> aiosqlite.Connection:
    """A connection that can only read (``mode=ro``); the file must exist. It runs each query
    outside any transaction, so an idle reader holds no snapshot that stops a checkpoint."""
    if not path.is_file():
        raise StorageError(f"no request log at {path}")
    db = await aiosqlite.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        await db.execute("PRAGMA query_only = ON")
    except BaseException:
        await db.close()
        raise
    return db


async def checkpoint(db: aiosqlite.Connection, path: Path) -> bool:
    """Copy the WAL into the database file and truncate it to zero bytes, so no copy of a
    deleted row is left in ``-wal``. A reader in the middle of a query blocks this; it is
    retried for a while. False (and a warning) if it could not complete."""
    for attempt in range(CHECKPOINT_TRIES):
        rows = list(await db.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)"))
        if rows and int(rows[0][0]) == 0:
            return True
        await asyncio.sleep(0.05 * (attempt + 1))
    log.warning(
        "request log %s: the WAL could not be truncated (a reader is busy); deleted rows may "
        "stay in %s-wal until the next checkpoint",
        path,
        path.name,
    )
    return False


class SqliteConnection:
    """An aiosqlite connection as the request log uses it (see :class:`Connection`)."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self.db = db
        self.path = path

    @property
    def closed(self) -> bool:
        return False  # a file does not go away under an open connection

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self.db.execute_fetchall(sql, args)]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        cursor = await self.db.execute(sql, args)
        return cursor.rowcount

    async def insert(self, rows: list[Values]) -> None:
        async with self.transaction():
            await self.db.executemany(INSERT, rows)

    async def insert_each(self, rows: list[Values]) -> list[tuple[Values, Exception]]:
        bad: list[tuple[Values, Exception]] = []
        async with self.transaction():
            for values in rows:
                try:
                    await self.db.execute(INSERT, values)
                except Exception as exc:
                    if not about_the_row(exc):
                        raise
                    bad.append((values, exc))
        return bad

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        try:
            yield
            await self.db.commit()
        except BaseException:
            await rollback(self.db)
            raise

    async def scrub(self) -> None:
        """Deleted rows are zeroed in the file as they go (``secure_delete``); this
        truncates the WAL, which still holds copies of them."""
        await checkpoint(self.db, self.path)

    async def close(self) -> None:
        await self.db.close()


class SqliteBackend:
    """The request log in one SQLite file."""

    kind = SQLITE

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)

    async def connect(self, *, busy_timeout_ms: int) -> SqliteConnection:
        return SqliteConnection(
            await connect(self.path, busy_timeout_ms=busy_timeout_ms), self.path
        )

    async def connect_read_only(self, *, busy_timeout_ms: int) -> SqliteConnection:
        db = await connect_read_only(self.path, busy_timeout_ms=busy_timeout_ms)
        return SqliteConnection(db, self.path)

    def about_the_row(self, exc: BaseException) -> bool:
        return about_the_row(exc)

    def is_database_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.Error | OSError)
