"""The request log: one SQLite row per request, written in batches by a single writer task.

Commands call :meth:`RequestLog.log`, which only appends to a list and never waits on the
database. The writer task flushes every ``flush_interval`` seconds with one ``executemany`` and
one commit. A locked or read-only database, or one that cannot be opened at all, keeps the rows
in memory and retries with back-off; rows that still cannot be written at shutdown, or that
overflow ``max_pending``, are counted in :attr:`RequestLog.lost` and logged at ERROR.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import sqlite3
import time
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
)
_INSERT = f"INSERT INTO requests ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


class StorageError(RuntimeError):
    """The database cannot be used at all (e.g. its schema is newer than this code)."""


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

    def values(self) -> tuple[Any, ...]:
        params = json.dumps(self.params, ensure_ascii=False, sort_keys=True, default=str)
        return tuple(params if c == "params" else getattr(self, c) for c in _COLUMNS)


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


@dataclass(frozen=True)
class Summary:
    """Aggregates over the request log, as shown by /stats and ``python -m bot stats``."""

    days: float | None
    total: int
    by_command: list[tuple[str, int, int]]  # command, requests, of which status ok
    by_status: dict[str, int]
    top_users: list[tuple[int, int]]  # user id, requests
    latency_p50_s: float | None  # total latency of successful requests
    latency_p95_s: float | None
    first_token_p50_s: float | None

    def render(self, *, mention_users: bool = False) -> str:
        span = f"last {self.days:g} days" if self.days is not None else "all time"
        if self.total == 0:
            return f"No requests logged ({span})."
        lines = [f"Requests ({span}): {self.total}"]
        lines += [f"  /{cmd}: {n} ({ok} ok)" for cmd, n, ok in self.by_command]
        lines.append("Status: " + ", ".join(f"{k} {v}" for k, v in sorted(self.by_status.items())))
        lines.append(
            f"Latency: median {_secs(self.latency_p50_s)}, p95 {_secs(self.latency_p95_s)}, "
            f"first text median {_secs(self.first_token_p50_s)}"
        )
        users = [(f"<@{u}>" if mention_users else str(u), n) for u, n in self.top_users]
        lines.append("Top users: " + ", ".join(f"{u} ({n})" for u, n in users))
        return "\n".join(lines)


def _secs(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}s"


async def _percentile(
    db: aiosqlite.Connection, column: str, since: float, q: float
) -> float | None:
    """Nearest-rank percentile of ``column`` over successful requests since ``since``."""
    where = f"created_at >= ? AND status = 'ok' AND {column} IS NOT NULL"
    async with db.execute(f"SELECT COUNT(*) FROM requests WHERE {where}", (since,)) as cur:
        row = await cur.fetchone()
    n = int(row[0]) if row else 0
    if n == 0:
        return None
    rank = max(1, math.ceil(q * n))
    sql = f"SELECT {column} FROM requests WHERE {where} ORDER BY {column} LIMIT 1 OFFSET ?"
    async with db.execute(sql, (since, rank - 1)) as cur:
        row = await cur.fetchone()
    return float(row[0]) if row else None


async def summarize(
    db: aiosqlite.Connection, days: float | None = None, *, top: int = 5, now: float | None = None
) -> Summary:
    since = -math.inf if days is None else (time.time() if now is None else now) - days * 86400
    window = "FROM requests WHERE created_at >= ?"
    by_command = [
        (str(c), int(n), int(ok))
        for c, n, ok in await db.execute_fetchall(
            f"SELECT command, COUNT(*), SUM(status = 'ok') {window} "
            "GROUP BY command ORDER BY COUNT(*) DESC, command",
            (since,),
        )
    ]
    by_status = {
        str(s): int(n)
        for s, n in await db.execute_fetchall(
            f"SELECT status, COUNT(*) {window} GROUP BY status", (since,)
        )
    }
    top_users = [
        (int(u), int(n))
        for u, n in await db.execute_fetchall(
            f"SELECT user_id, COUNT(*) {window} GROUP BY user_id "
            "ORDER BY COUNT(*) DESC, user_id LIMIT ?",
            (since, top),
        )
    ]
    return Summary(
        days=days,
        total=sum(by_status.values()),
        by_command=by_command,
        by_status=by_status,
        top_users=top_users,
        latency_p50_s=await _percentile(db, "total_s", since, 0.50),
        latency_p95_s=await _percentile(db, "total_s", since, 0.95),
        first_token_p50_s=await _percentile(db, "first_token_s", since, 0.50),
    )


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
    ) -> None:
        self.path = path
        self.flush_interval = flush_interval
        self.busy_timeout_ms = busy_timeout_ms
        self.max_pending = max_pending
        self.close_attempts = close_attempts
        self.written = 0
        self.lost = 0
        self.failed_writes = 0
        self.last_error: str | None = None
        self._db: aiosqlite.Connection | None = None
        self._rows: list[RequestRow] = []
        self._wakeup = asyncio.Event()  # rows, a flush request or close: the writer has work
        self._urgent = asyncio.Event()  # skip the batching delay
        self._flush_waiters: list[asyncio.Future[bool]] = []
        self._closing = False
        self._lock = asyncio.Lock()  # one write transaction at a time on the connection
        self._open_lock = asyncio.Lock()
        self._writer: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: Path, **options: Any) -> RequestLog:
        """Open the log and start its writer. A database that cannot be opened now (locked,
        read-only, bad directory) is retried later; a newer schema raises StorageError."""
        self = cls(Path(path), **options)
        try:
            self._db = await connect(self.path, busy_timeout_ms=self.busy_timeout_ms)
        except (sqlite3.Error, OSError) as exc:
            self._note_failure(f"cannot open: {exc}")
        self._writer = asyncio.create_task(self._run(), name="request-log-writer")
        return self

    @property
    def pending(self) -> int:
        return len(self._rows)

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
        self._rows.append(row)
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

    async def summary(self, days: float | None = None) -> Summary:
        db = await self._ensure_db()
        if db is None:
            raise StorageError(f"request log {self.path} is unavailable: {self.last_error}")
        return await summarize(db, days)

    async def prune(self, older_than_days: float) -> int:
        """Delete rows older than the given age; returns how many."""
        db = await self._ensure_db()
        if db is None:
            raise StorageError(f"request log {self.path} is unavailable: {self.last_error}")
        async with self._lock:
            cursor = await db.execute(
                "DELETE FROM requests WHERE created_at < ?",
                (time.time() - older_than_days * 86400,),
            )
            await db.commit()
        return cursor.rowcount

    async def close(self) -> None:
        """Flush what can be flushed, report what cannot, close the connection."""
        self._closing = True
        self._urgent.set()
        self._wakeup.set()
        if self._writer is not None:
            await self._writer
        if self._rows:
            self.lost += len(self._rows)
            log.error(
                "request log %s: %d row(s) could NOT be written and are lost (%s)",
                self.path,
                len(self._rows),
                self.last_error,
            )
            self._rows.clear()
        if self._db is not None:
            await self._db.close()
            self._db = None

    # -- writer -------------------------------------------------------------------------------

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
                len(self._rows),
            )

    async def _write_pending(self) -> bool:
        if not self._rows:
            return True
        db = await self._ensure_db()
        if db is None:
            return False
        batch = list(self._rows)
        async with self._lock:
            try:
                await db.executemany(_INSERT, [row.values() for row in batch])
                await db.commit()
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    await db.rollback()
                self._note_failure(str(exc))
                return False
        del self._rows[: len(batch)]  # rows logged during the write stay queued
        self.written += len(batch)
        if self.last_error is not None:
            log.warning("request log %s writable again (%d rows written)", self.path, len(batch))
            self.last_error = None
        return True

    def _drop_overflow(self) -> None:
        excess = len(self._rows) - self.max_pending
        if excess > 0:
            del self._rows[:excess]
            self.lost += excess
            log.error(
                "request log %s: %d oldest row(s) dropped, %d waiting is the limit (%s)",
                self.path,
                excess,
                self.max_pending,
                self.last_error,
            )

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._urgent.wait(), seconds)

    async def _run(self) -> None:
        failures = 0
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._closing:
                await self._pause(0.1 * failures)
            elif not self._flush_waiters:
                await self._pause(min(self.flush_interval * 2**failures, 5.0))
            self._urgent.clear()
            ok = await self._write_pending()
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
