"""The request log's writer: a queue of storable rows and one task that writes them in
batches and cannot die.

Failures are sorted by cause. A database that is locked, read-only, full, gone (a server
restarting) or cannot be opened keeps the rows in memory and is retried with a back-off
capped at ``max_backoff`` seconds; a connection the server closed is opened again. A batch
refused because of its values is retried row by row, and only the rows that cannot be stored
are dropped. Dropped rows, rows that overflow ``max_pending`` (the oldest go first) and rows
still unwritten at shutdown are counted in ``lost`` and logged at ERROR.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from bot.storage.backend import Backend, Connection, StorageError
from bot.storage.rows import COMMAND, USER, Values

log = logging.getLogger(__name__)


class BatchWriter:
    """The queue and the writer task of :class:`bot.storage.RequestLog`."""

    def __init__(
        self,
        backend: Backend,
        *,
        flush_interval: float,
        busy_timeout_ms: int,
        max_pending: int,
        close_attempts: int,
        max_backoff: float,
    ) -> None:
        self.backend = backend
        self.where = backend.where  # the file or the URL (no password), for messages
        self.flush_interval = flush_interval
        self.busy_timeout_ms = busy_timeout_ms
        self.max_pending = max_pending
        self.close_attempts = close_attempts
        self.max_backoff = max_backoff
        self.written = 0
        self.lost = 0
        self.failed_writes = 0
        self.last_error: str | None = None
        self._db: Connection | None = None
        self._rows: deque[Values] = deque()
        self._inflight = 0  # rows taken from the queue by the write in progress
        self._wakeup = asyncio.Event()  # rows, a flush request or close: the writer has work
        self._urgent = asyncio.Event()  # skip the batching delay
        self._flush_waiters: list[asyncio.Future[bool]] = []
        self._closing = False
        self._lock = asyncio.Lock()  # one write transaction at a time on the connection
        self._open_lock = asyncio.Lock()
        self._writer: asyncio.Task[None] | None = None

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

    async def flush(self) -> bool:
        """Write every queued row now, and wait for a write in progress; False if the
        database refused them (they stay queued)."""
        if not self.pending or self._closing:
            return not self.pending
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._flush_waiters.append(waiter)
        self._urgent.set()
        self._wakeup.set()
        return await waiter

    async def _writable(self) -> Connection:
        db = await self._ensure_db()
        if db is None:
            raise StorageError(f"request log {self.where} is unavailable: {self.last_error}")
        return db

    async def _ensure_db(self) -> Connection | None:
        async with self._open_lock:
            if self._db is not None and self._db.closed:  # the server went away
                await self._drop_connection()
            if self._db is None:
                try:
                    self._db = await self.backend.connect(busy_timeout_ms=self.busy_timeout_ms)
                except StorageError as exc:
                    self._note_failure(f"cannot open: {exc}")
                except Exception as exc:
                    if not self.backend.is_database_error(exc):
                        raise
                    self._note_failure(f"cannot open: {exc}")
        return self._db

    async def _drop_connection(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(Exception):
                await db.close()

    def _note_failure(self, error: str) -> None:
        self.failed_writes += 1
        first = self.last_error is None
        self.last_error = error
        if first or self.failed_writes % 20 == 0:
            log.error(
                "request log %s unavailable (%s); %d row(s) kept in memory and retried",
                self.where,
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
            log.warning("request log %s writable again (%d rows)", self.where, len(batch))
            self.last_error = None
        return True

    async def _store(self, db: Connection, batch: list[Values]) -> BaseException | None:
        """Insert ``batch`` in one transaction. None: every row is written or, refused for
        its values on a row-by-row retry, dropped (counted and logged). Otherwise the error
        that made the database refuse the batch; then no row is written."""
        try:
            await db.insert(batch)
        except Exception as exc:
            if not self.backend.about_the_row(exc):
                return exc
            log.warning(
                "request log %s: a batch of %d row(s) was refused (%s: %s); writing row by row",
                self.where,
                len(batch),
                type(exc).__name__,
                exc,
            )
        else:
            self.written += len(batch)
            return None
        try:
            bad = await db.insert_each(batch)
        except Exception as exc:
            return exc
        for values, problem in bad:
            log.error(
                "request log %s: dropped a row that cannot be stored (/%s by user %s): %s: %s",
                self.where,
                values[COMMAND],
                values[USER],
                type(problem).__name__,
                problem,
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
                self.where,
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
            # the flushes asked for before this write; those asked for during it (their rows
            # may have been queued after the batch was taken) wait for the next one
            waiters, self._flush_waiters = self._flush_waiters, []
            try:
                ok = await self._write_pending()
            except Exception as exc:  # a bug, not the database: keep the rows, keep going
                log.exception("request log %s: unexpected error while writing", self.where)
                self._note_failure(f"{type(exc).__name__}: {exc}")
                ok = False
            failures = 0 if ok else failures + 1
            if not ok:
                self._drop_overflow()
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(ok)
            if self._closing and (not self._rows or failures >= self.close_attempts):
                for waiter in self._flush_waiters:
                    if not waiter.done():
                        waiter.set_result(not self._rows)
                return
            if self._rows or self._flush_waiters:
                self._wakeup.set()
