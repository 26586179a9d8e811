"""The request log: one SQLite row per request, written in batches by a single writer task.

Commands call :meth:`RequestLog.log`, which turns the row into storable values (lone UTF-16
surrogates replaced) and appends them to a queue; it never waits on the database. The writer
task flushes every ``flush_interval`` seconds with one ``executemany`` and one commit.

Failures are sorted by cause. A database that is locked, read-only, full or cannot be opened
keeps the rows in memory and is retried with a back-off capped at ``max_backoff`` seconds. A
batch refused because of its values is retried row by row, and only the rows that cannot be
stored are dropped. Dropped rows, rows that overflow ``max_pending`` (the oldest go first)
and rows still unwritten at shutdown are counted in :attr:`RequestLog.lost` and logged at
ERROR. Nothing ends the writer but :meth:`RequestLog.close`.

Statistics are read on a second, read-only connection, so a slow query never holds up
writes (WAL lets readers and the writer work at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import sqlite3
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

# Forward migrations; MIGRATIONS[i] takes the schema from user_version i to i + 1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        created_at REAL NOT NULL,
        guild_id INTEGER,
        channel_id INTEGER,
        user_id INTEGER NOT NULL,
        command TEXT NOT NULL,
        model TEXT,
        params TEXT NOT NULL DEFAULT '{}',
        prompt TEXT,
        output TEXT,
        tokens INTEGER,
        first_token_s REAL,
        total_s REAL,
        status TEXT NOT NULL,
        error TEXT
    );
    """,
    """
    CREATE INDEX requests_created_at ON requests (created_at);
    CREATE INDEX requests_user ON requests (user_id, created_at);
    """,
    # /stats: each scope (a server, a user, everything) reads a covering index, never the
    # table; the latency percentiles of a server walk an index in latency order.
    """
    DROP INDEX requests_created_at;
    CREATE INDEX requests_created_at
        ON requests (created_at, command, status, user_id, total_s, first_token_s);
    DROP INDEX requests_user;
    CREATE INDEX requests_user
        ON requests (user_id, created_at, command, status, guild_id, total_s, first_token_s);
    CREATE INDEX requests_guild
        ON requests (guild_id, created_at, command, status, user_id, total_s, first_token_s);
    CREATE INDEX requests_guild_total ON requests (guild_id, status, total_s, created_at);
    CREATE INDEX requests_guild_first ON requests (guild_id, status, first_token_s, created_at);
    """,
    # reply buttons: a request is found by its interaction id (in the buttons' custom_id), and
    # a press is linked to the request whose reply it was under
    """
    ALTER TABLE requests ADD COLUMN interaction_id INTEGER;
    ALTER TABLE requests ADD COLUMN parent_id INTEGER;
    CREATE INDEX requests_interaction ON requests (interaction_id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

_COLUMNS = (
    "created_at",
    "guild_id",
    "channel_id",
    "user_id",
    "command",
    "model",
    "params",
    "prompt",
    "output",
    "tokens",
    "first_token_s",
    "total_s",
    "status",
    "error",
    "interaction_id",
    "parent_id",
)
_INSERT = f"INSERT INTO requests ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_USER = _COLUMNS.index("user_id")
_COMMAND = _COLUMNS.index("command")
_PARAMS = _COLUMNS.index("params")

# With text logging off, the only string parameters kept (fixed choices, not user text).
METADATA_TEXT_PARAMS = frozenset({"style"})

Values = tuple[Any, ...]  # one row as bound to _INSERT


class StorageError(RuntimeError):
    """The database cannot be used at all (e.g. its schema is newer than this code)."""


def storable(text: str) -> str:
    """``text`` with lone UTF-16 surrogates (valid in a Python str and in JSON, but not in
    UTF-8, so SQLite refuses them) replaced by U+FFFD; surrogate pairs are joined."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _clean(value: Any) -> Any:
    return storable(value) if isinstance(value, str) else value


@dataclass
class RequestRow:
    """One request as logged. ``status``: ok | refused | invalid | busy | unavailable |
    cancelled | failed | error."""

    user_id: int
    command: str
    status: str
    created_at: float = field(default_factory=time.time)
    guild_id: int | None = None
    channel_id: int | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    prompt: str | None = None
    output: str | None = None
    tokens: int | None = None
    first_token_s: float | None = None
    total_s: float | None = None
    error: str | None = None
    interaction_id: int | None = None  # the Discord interaction (the reply buttons' key)
    parent_id: int | None = None  # a button press: the interaction id of the reply's request

    def values(self, *, text: bool = True) -> Values:
        """The row as storable values; without ``text``, metadata only (no prompt, output
        or free-text parameters)."""
        params = self.params
        if not text:
            params = {
                k: v
                for k, v in params.items()
                if not isinstance(v, str) or k in METADATA_TEXT_PARAMS
            }
        encoded = json.dumps(params, ensure_ascii=False, sort_keys=True, default=str)
        row = {c: getattr(self, c) for c in _COLUMNS}
        row["params"] = encoded
        if not text:
            row["prompt"] = row["output"] = None
        return tuple(_clean(row[c]) for c in _COLUMNS)


def _about_the_row(exc: BaseException) -> bool:
    """Whether a failed insert was refused for its values (a constraint, a type SQLite
    cannot bind, an integer too large...) rather than because of the database (locked,
    busy, read-only, full, I/O, cannot open, corrupt), which no other row would escape."""
    database_level = isinstance(exc, OSError | sqlite3.OperationalError)
    # a plain DatabaseError: "file is not a database", corruption
    return not (database_level or type(exc) is sqlite3.DatabaseError)


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
    """Open (creating if needed) and migrate the database; close it again on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = await aiosqlite.connect(path)
    try:
        await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await _migrate(db, path)
    except BaseException:
        await db.close()
        raise
    return db


async def connect_read_only(path: Path, *, busy_timeout_ms: int = 1000) -> aiosqlite.Connection:
    """A connection that can only read (``mode=ro``); the file must exist."""
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


@dataclass(frozen=True)
class Summary:
    """Aggregates over the request log, as shown by /stats and ``python -m bot stats``."""

    days: float | None
    total: int
    by_command: list[tuple[str, int, int]]  # command, requests, of which status ok
    by_status: dict[str, int]
    top_users: list[tuple[int, int]]  # user id, requests (empty for one user's figures)
    latency_p50_s: float | None  # total latency of successful requests
    latency_p95_s: float | None
    first_token_p50_s: float | None

    def render(self, *, mention_users: bool = False, title: str = "Requests") -> str:
        span = f"last {self.days:g} days" if self.days is not None else "all time"
        if self.total == 0:
            return f"No requests logged ({span})."
        lines = [f"{title} ({span}): {self.total}"]
        lines += [f"  /{cmd}: {n} ({ok} ok)" for cmd, n, ok in self.by_command]
        lines.append("Status: " + ", ".join(f"{k} {v}" for k, v in sorted(self.by_status.items())))
        lines.append(
            f"Latency: median {_secs(self.latency_p50_s)}, p95 {_secs(self.latency_p95_s)}, "
            f"first text median {_secs(self.first_token_p50_s)}"
        )
        if self.top_users:
            users = [(f"<@{u}>" if mention_users else str(u), n) for u, n in self.top_users]
            lines.append("Top users: " + ", ".join(f"{u} ({n})" for u, n in users))
        return "\n".join(lines)


def _secs(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}s"


async def summarize(
    db: aiosqlite.Connection,
    days: float | None = None,
    *,
    guild_id: int | None = None,
    user_id: int | None = None,
    top: int = 5,
    now: float | None = None,
) -> Summary:
    """Figures over the last ``days`` (None: all time), for one server and/or one user
    (None: every server / every user). Top users are listed only when no user is given."""
    since = -math.inf if days is None else (time.time() if now is None else now) - days * 86400
    where, args = "created_at >= ?", [since]
    if guild_id is not None:
        where, args = f"guild_id = ? AND {where}", [guild_id, *args]
    if user_id is not None:
        where, args = f"user_id = ? AND {where}", [user_id, *args]

    by_command: dict[str, list[int]] = {}
    by_status: dict[str, int] = {}
    for command, status, n in await db.execute_fetchall(
        f"SELECT command, status, COUNT(*) FROM requests WHERE {where} GROUP BY command, status",
        args,
    ):
        counts = by_command.setdefault(str(command), [0, 0])
        counts[0] += int(n)
        counts[1] += int(n) if status == "ok" else 0
        by_status[str(status)] = by_status.get(str(status), 0) + int(n)
    top_users: list[tuple[int, int]] = []
    if user_id is None and by_status:
        top_users = [
            (int(u), int(n))
            for u, n in await db.execute_fetchall(
                f"SELECT user_id, COUNT(*) FROM requests WHERE {where} GROUP BY user_id "
                "ORDER BY COUNT(*) DESC, user_id LIMIT ?",
                [*args, top],
            )
        ]

    async def percentiles(column: str, *qs: float) -> list[float | None]:
        """Nearest-rank percentiles of ``column`` over successful requests."""
        timed = f"FROM requests WHERE {where} AND status = 'ok' AND {column} IS NOT NULL"
        n = 0
        if by_status.get("ok"):
            n = int(next(iter(await db.execute_fetchall(f"SELECT COUNT(*) {timed}", args)))[0])
        out: list[float | None] = []
        for q in qs:
            rows = []
            if n:
                rank = max(1, math.ceil(q * n))
                sql = f"SELECT {column} {timed} ORDER BY {column} LIMIT 1 OFFSET ?"
                rows = list(await db.execute_fetchall(sql, [*args, rank - 1]))
            out.append(float(rows[0][0]) if rows else None)
        return out

    p50, p95 = await percentiles("total_s", 0.50, 0.95)
    (first_p50,) = await percentiles("first_token_s", 0.50)
    ordered = sorted(by_command.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return Summary(
        days=days,
        total=sum(by_status.values()),
        by_command=[(c, n, ok) for c, (n, ok) in ordered],
        by_status=by_status,
        top_users=top_users,
        latency_p50_s=p50,
        latency_p95_s=p95,
        first_token_p50_s=first_p50,
    )


@dataclass(frozen=True)
class Forgotten:
    """What :meth:`RequestLog.forget` removed."""

    deleted: int  # the user's own rows (written and queued)
    scrubbed: int  # other people's rows that named the user (``/name for:``)


def _without_member(params: str, user_id: int) -> str | None:
    """``params`` (JSON) with ``user_id`` taken out of its ``members``; None if absent."""
    try:
        data = json.loads(params)
    except ValueError:
        return None
    members = data.get("members") if isinstance(data, dict) else None
    if not isinstance(members, list) or user_id not in members:
        return None
    data["members"] = [m for m in members if m != user_id]
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


class RequestLog:
    """Batched, non-blocking writer of :class:`RequestRow` to one SQLite file."""

    def __init__(
        self,
        path: Path,
        *,
        flush_interval: float = 0.25,
        busy_timeout_ms: int = 1000,
        max_pending: int = 50_000,
        close_attempts: int = 3,
        max_backoff: float = 30.0,
        store_text: bool = True,
        retention_days: float = 0.0,
        prune_interval: float = 3600.0,
    ) -> None:
        self.path = path
        self.flush_interval = flush_interval
        self.busy_timeout_ms = busy_timeout_ms
        self.max_pending = max_pending
        self.close_attempts = close_attempts
        self.max_backoff = max_backoff
        self.store_text = store_text
        self.retention_days = retention_days
        self.prune_interval = prune_interval
        self.written = 0
        self.lost = 0
        self.failed_writes = 0
        self.last_error: str | None = None
        self._db: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._rows: deque[Values] = deque()
        self._inflight = 0  # rows taken from the queue by the write in progress
        self._wakeup = asyncio.Event()  # rows, a flush request or close: the writer has work
        self._urgent = asyncio.Event()  # skip the batching delay
        self._flush_waiters: list[asyncio.Future[bool]] = []
        self._closing = False
        self._lock = asyncio.Lock()  # one write transaction at a time on the connection
        self._open_lock = asyncio.Lock()
        self._reader_lock = asyncio.Lock()
        self._writer: asyncio.Task[None] | None = None
        self._pruner: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: Path, **options: Any) -> RequestLog:
        """Open the log and start its writer (and, with a retention, its pruner). A database
        that cannot be opened now (locked, read-only, bad directory) is retried later; a
        newer schema raises StorageError."""
        self = cls(Path(path), **options)
        try:
            self._db = await connect(self.path, busy_timeout_ms=self.busy_timeout_ms)
        except (sqlite3.Error, OSError) as exc:
            self._note_failure(f"cannot open: {exc}")
        self._writer = asyncio.create_task(self._run(), name="request-log-writer")
        if self.retention_days > 0:
            self._pruner = asyncio.create_task(self._prune_forever(), name="request-log-pruner")
        return self

    @property
    def pending(self) -> int:
        return len(self._rows) + self._inflight

    @property
    def writing(self) -> bool:
        """A write transaction is in progress."""
        return self._inflight > 0

    @property
    def available(self) -> bool:
        return self._db is not None

    def health(self) -> str:
        text = f"request log: {self.written} written, {self.pending} pending, {self.lost} lost"
        if self.last_error:
            text += f" (last error: {self.last_error})"
        return text

    def log(self, row: RequestRow) -> None:
        """Queue a row; never blocks, never raises."""
        if self._closing:
            self.lost += 1
            log.error("request log closed: lost a %s row for /%s", row.status, row.command)
            return
        try:
            values = row.values(text=self.store_text)
        except Exception as exc:  # e.g. params that JSON cannot encode
            self.lost += 1
            log.error("request log: cannot store a row for /%s (%s); dropped", row.command, exc)
            return
        self._rows.append(values)  # overflow is trimmed by the writer, once per failed write
        self._wakeup.set()

    async def flush(self) -> bool:
        """Write every queued row now; False if the database refused them (they stay queued)."""
        if not self._rows or self._closing:
            return not self._rows
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._flush_waiters.append(waiter)
        self._urgent.set()
        self._wakeup.set()
        return await waiter

    async def _read_only(self) -> aiosqlite.Connection:
        """The read-only connection, opened on first use."""
        async with self._reader_lock:
            if self._reader is None:
                try:
                    self._reader = await connect_read_only(
                        self.path, busy_timeout_ms=self.busy_timeout_ms
                    )
                except (sqlite3.Error, OSError) as exc:
                    raise StorageError(f"request log {self.path} is unavailable: {exc}") from exc
            return self._reader

    async def find(self, interaction_id: int) -> RequestRow | None:
        """The row of the request made by interaction ``interaction_id`` (queued rows are
        written first), or None: never logged, pruned, or forgotten."""
        await self.flush()
        reader = await self._read_only()
        try:
            rows = await reader.execute_fetchall(
                f"SELECT {', '.join(_COLUMNS)} FROM requests WHERE interaction_id = ? "
                "ORDER BY id DESC LIMIT 1",
                (interaction_id,),
            )
        except sqlite3.Error as exc:
            raise StorageError(f"request log {self.path}: {exc}") from exc
        if not rows:
            return None
        row = dict(zip(_COLUMNS, rows[0], strict=True))
        row["params"] = json.loads(row["params"] or "{}")
        return RequestRow(**row)

    async def summary(
        self, days: float | None = None, *, guild_id: int | None = None, user_id: int | None = None
    ) -> Summary:
        """Figures from the read-only connection (see :func:`summarize`)."""
        reader = await self._read_only()
        try:
            return await summarize(reader, days, guild_id=guild_id, user_id=user_id)
        except sqlite3.Error as exc:
            raise StorageError(f"request log {self.path}: {exc}") from exc

    async def prune(self, older_than_days: float, *, now: float | None = None) -> int:
        """Delete rows older than the given age; returns how many."""
        db = await self._writable()
        cutoff = (time.time() if now is None else now) - older_than_days * 86400
        async with self._lock:
            try:
                cursor = await db.execute("DELETE FROM requests WHERE created_at < ?", (cutoff,))
                await db.commit()
            except BaseException:
                await _rollback(db)
                raise
        return cursor.rowcount

    async def forget(self, user_id: int) -> Forgotten:
        """Delete every row of ``user_id`` (written or queued) and take their id out of the
        members of other people's ``/name for:`` rows."""
        db = await self._writable()
        async with self._lock:  # the writer takes its batches under this lock too
            kept: deque[Values] = deque()
            deleted = scrubbed = 0
            for values in self._rows:
                if values[_USER] == user_id:
                    deleted += 1
                    continue
                params = _without_member(values[_PARAMS], user_id)
                if params is None:
                    kept.append(values)
                else:
                    kept.append((*values[:_PARAMS], params, *values[_PARAMS + 1 :]))
                    scrubbed += 1
            try:
                cursor = await db.execute("DELETE FROM requests WHERE user_id = ?", (user_id,))
                deleted += cursor.rowcount
                rows = await db.execute_fetchall(
                    "SELECT id, params FROM requests WHERE command = 'name' AND params LIKE ?",
                    (f"%{user_id}%",),
                )
                for row_id, params in rows:
                    new = _without_member(str(params), user_id)
                    if new is not None:
                        await db.execute(
                            "UPDATE requests SET params = ? WHERE id = ?", (new, row_id)
                        )
                        scrubbed += 1
                await db.commit()
            except BaseException:
                await _rollback(db)
                raise
            self._rows = kept
        log.info(
            "request log: forgot user %s (%d rows deleted, %d scrubbed)", user_id, deleted, scrubbed
        )
        return Forgotten(deleted=deleted, scrubbed=scrubbed)

    async def close(self) -> None:
        """Flush what can be flushed, close both connections (whatever happens), and report
        rows written, pending and lost."""
        self._closing = True
        self._urgent.set()
        self._wakeup.set()
        try:
            if self._pruner is not None:
                self._pruner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._pruner
            if self._writer is not None:
                try:
                    await self._writer
                except Exception:  # the writer never raises; if it did, say so and go on
                    log.exception("request log %s: the writer failed", self.path)
        finally:
            if self._rows or self._inflight:
                unwritten = len(self._rows) + self._inflight
                self.lost += unwritten
                log.error(
                    "request log %s: %d row(s) could NOT be written and are lost (%s)",
                    self.path,
                    unwritten,
                    self.last_error,
                )
                self._rows.clear()
            for name in ("_reader", "_db"):
                connection = getattr(self, name)
                setattr(self, name, None)
                if connection is not None:
                    try:
                        await connection.close()
                    except Exception as exc:
                        log.error("request log %s: error while closing: %s", self.path, exc)
            level = logging.ERROR if self.lost else logging.INFO
            log.log(level, "%s, closed", self.health())

    # -- writer -------------------------------------------------------------------------------

    async def _writable(self) -> aiosqlite.Connection:
        db = await self._ensure_db()
        if db is None:
            raise StorageError(f"request log {self.path} is unavailable: {self.last_error}")
        return db

    async def _ensure_db(self) -> aiosqlite.Connection | None:
        async with self._open_lock:
            if self._db is None:
                try:
                    self._db = await connect(self.path, busy_timeout_ms=self.busy_timeout_ms)
                except (sqlite3.Error, OSError, StorageError) as exc:
                    self._note_failure(f"cannot open: {exc}")
        return self._db

    def _note_failure(self, error: str) -> None:
        self.failed_writes += 1
        first = self.last_error is None
        self.last_error = error
        if first or self.failed_writes % 20 == 0:
            log.error(
                "request log %s unavailable (%s); %d row(s) kept in memory and retried",
                self.path,
                error,
                self.pending,
            )

    async def _write_pending(self) -> bool:
        if not self._rows:
            return True
        db = await self._ensure_db()
        if db is None:
            return False
        async with self._lock:
            batch = list(self._rows)
            self._rows.clear()
            self._inflight = len(batch)
            error: BaseException | None = None
            stored = False
            try:
                error = await self._store(db, batch)
                stored = error is None
            finally:
                self._inflight = 0
                if not stored:  # back to the front, before the rows logged meanwhile
                    self._rows.extendleft(reversed(batch))
        if error is not None:
            self._note_failure(str(error))
            return False
        if self.last_error is not None:
            log.warning("request log %s writable again (%d rows)", self.path, len(batch))
            self.last_error = None
        return True

    async def _store(self, db: aiosqlite.Connection, batch: list[Values]) -> BaseException | None:
        """Insert ``batch`` in one transaction. None: every row is written or, refused for
        its values on a row-by-row retry, dropped (counted and logged). Otherwise the error
        that made the database refuse the batch; then no row is written."""
        try:
            await db.executemany(_INSERT, batch)
            await db.commit()
        except Exception as exc:
            await _rollback(db)
            if not _about_the_row(exc):
                return exc
            log.warning(
                "request log %s: a batch of %d row(s) was refused (%s: %s); writing row by row",
                self.path,
                len(batch),
                type(exc).__name__,
                exc,
            )
        else:
            self.written += len(batch)
            return None
        bad: list[tuple[Values, Exception]] = []
        try:
            for values in batch:
                try:
                    await db.execute(_INSERT, values)
                except Exception as exc:
                    if not _about_the_row(exc):
                        raise
                    bad.append((values, exc))
            await db.commit()
        except Exception as exc:
            await _rollback(db)
            return exc
        for values, exc in bad:
            log.error(
                "request log %s: dropped a row that cannot be stored (/%s by user %s): %s: %s",
                self.path,
                values[_COMMAND],
                values[_USER],
                type(exc).__name__,
                exc,
            )
        self.lost += len(bad)
        self.written += len(batch) - len(bad)
        return None

    def _drop_overflow(self) -> None:
        excess = len(self._rows) - self.max_pending
        if excess > 0:
            for _ in range(excess):
                self._rows.popleft()
            self.lost += excess
            log.error(
                "request log %s: %d oldest row(s) dropped, %d waiting is the limit (%s)",
                self.path,
                excess,
                self.max_pending,
                self.last_error,
            )

    def _backoff(self, failures: int) -> float:
        """Seconds to wait before the next write: the batching interval, doubled per
        failure in a row, at most ``max_backoff``."""
        return min(self.flush_interval * 2.0 ** min(failures, 32), self.max_backoff)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._urgent.wait(), seconds)

    async def _run(self) -> None:
        failures = 0
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._closing:
                await self._pause(min(0.1 * failures, 1.0))
            elif not self._flush_waiters:
                await self._pause(self._backoff(failures))
            self._urgent.clear()
            try:
                ok = await self._write_pending()
            except Exception as exc:  # a bug, not the database: keep the rows, keep going
                log.exception("request log %s: unexpected error while writing", self.path)
                self._note_failure(f"{type(exc).__name__}: {exc}")
                ok = False
            failures = 0 if ok else failures + 1
            if not ok:
                self._drop_overflow()
            waiters, self._flush_waiters = self._flush_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(ok)
            if self._closing and (not self._rows or failures >= self.close_attempts):
                return
            if self._rows:
                self._wakeup.set()

    async def _prune_forever(self) -> None:
        """Apply the retention now and then every ``prune_interval`` seconds."""
        while True:
            try:
                deleted = await self.prune(self.retention_days)
            except (sqlite3.Error, OSError, StorageError) as exc:
                log.warning("request log %s: retention prune failed: %s", self.path, exc)
            except Exception:
                log.exception("request log %s: retention prune failed", self.path)
            else:
                if deleted:
                    log.info(
                        "request log %s: %d row(s) older than %g days deleted",
                        self.path,
                        deleted,
                        self.retention_days,
                    )
            await asyncio.sleep(self.prune_interval)


async def _rollback(db: aiosqlite.Connection) -> None:
    with contextlib.suppress(Exception):
        await db.rollback()
