"""What the request log needs from a database, and the two that provide it.

A :class:`Backend` names the database (for messages), opens a :class:`Connection` for
writing (creating and migrating the schema) and one for reading, and sorts a failed insert
by cause. A connection runs the log's SQL, written once with ``?`` placeholders, in
transactions; the writer, the queries, retention and /forget-me sit on top of it, the same
for both. The SQLite back end (:mod:`bot.storage.sqlite`) is the default; the PostgreSQL one
(:mod:`bot.storage.postgres`) needs the ``postgres`` extra (asyncpg) and is imported only
when a ``postgresql://`` URL asks for it.

Migrations are SQL files, ``migrations/<back end>/NNNN_what.sql``, applied in order at
start; the database records the last one applied (SQLite: ``PRAGMA user_version``;
PostgreSQL: the ``schema_version`` table).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from importlib import resources
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from bot.storage.rows import Values

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
POSTGRES_SCHEMES = ("postgresql", "postgres")
NO_ASYNCPG = (
    "needs the asyncpg package: pip install 'lstm-discord-bot[postgres]' (or use a sqlite:/// URL)"
)


class StorageError(RuntimeError):
    """The database cannot be used at all (e.g. its schema is newer than this code)."""


class Connection(Protocol):
    """One database connection, as the request log uses it."""

    @property
    def closed(self) -> bool:
        """The connection is gone (the server went away): open a new one."""
        ...

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    async def insert(self, rows: list[Values]) -> None:
        """Insert ``rows`` in one transaction, committed; on failure none is written."""
        ...

    async def insert_each(self, rows: list[Values]) -> list[tuple[Values, Exception]]:
        """Insert ``rows`` one by one in one transaction, committed: the rows refused for
        their values are left out and returned with the error. A database-level error
        rolls everything back and is raised."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Commit on leaving, roll back on an exception."""
        ...

    async def scrub(self) -> None:
        """After rows were deleted: leave as little of them on disk as the database can."""
        ...

    async def close(self) -> None: ...


class Backend(Protocol):
    """A database for the request log."""

    kind: str  # SQLITE or POSTGRESQL
    where: str  # how messages name it: the file, or the URL without its password

    async def connect(self, *, busy_timeout_ms: int) -> Connection:
        """A connection for writing; the schema created or migrated first."""
        ...

    async def connect_read_only(self, *, busy_timeout_ms: int) -> Connection:
        """A connection that can only read; StorageError if there is no log there."""
        ...

    def about_the_row(self, exc: BaseException) -> bool:
        """Whether an insert was refused for its values rather than by the database."""
        ...

    def is_database_error(self, exc: BaseException) -> bool:
        """An error of the database or its driver (reads turn it into StorageError)."""
        ...


def migrations(kind: str) -> tuple[str, ...]:
    """The SQL of each migration of back end ``kind``, in order: the i-th takes the schema
    from version i to i + 1. Files are ``NNNN_what.sql`` numbered from 0001 with no gap."""
    folder = resources.files("bot.storage").joinpath("migrations", kind)
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    numbers = [int(f.name.partition("_")[0]) for f in files]
    if numbers != list(range(1, len(files) + 1)):
        raise StorageError(f"migrations of {kind} are not numbered 0001 onwards: {numbers}")
    return tuple(f.read_text("utf-8") for f in files)


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///relative/path`` or ``sqlite:////absolute/path`` URL."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError(f"a SQLite URL is sqlite:///PATH, got {url!r}")
    return Path(url[len(prefix) :])


def without_password(url: str) -> str:
    """``url`` with any password taken out (messages and logs may show it)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def url_problem(url: str) -> str | None:
    """What is wrong with a ``db_url`` (None: nothing), asyncpg's absence included."""
    scheme = urlsplit(url).scheme
    if scheme == SQLITE:
        try:
            sqlite_path(url)
        except ValueError:
            return "a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path"
        return None
    if scheme in POSTGRES_SCHEMES:
        try:
            import asyncpg  # noqa: F401
        except ImportError:
            return NO_ASYNCPG
        return None
    return "must be a sqlite:/// or postgresql:// URL"


def backend_for(target: Path | str) -> Backend:
    """The back end of a request log: a Path is a SQLite file; a string is a ``db_url``."""
    if isinstance(target, str):
        scheme = urlsplit(target).scheme
        if scheme in POSTGRES_SCHEMES:
            try:
                from bot.storage.postgres import PostgresBackend
            except ImportError as exc:
                raise StorageError(f"{without_password(target)}: {NO_ASYNCPG}") from exc
            return PostgresBackend(target)
        try:
            target = sqlite_path(target)
        except ValueError as exc:
            raise StorageError(str(exc)) from None
    from bot.storage.sqlite import SqliteBackend

    return SqliteBackend(Path(target))
