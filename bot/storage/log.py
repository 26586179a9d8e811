"""The request log's public face: :class:`RequestLog` queues rows, finds one by interaction
id, reads statistics on a second, read-only connection (a slow query never holds up writes:
SQLite's WAL and PostgreSQL's MVCC let readers and the writer work at once), prunes, forgets
a user, and closes. The database is a SQLite file or a PostgreSQL server
(:mod:`bot.storage.backend`); everything here is the same for both, but that on PostgreSQL
a forget is also told to, and redone by, the other processes sharing the log
(:mod:`bot.storage.broadcast`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bot.storage.backend import POSTGRESQL, Connection, StorageError, backend_for
from bot.storage.forget import ForgetMemory, Forgotten, forget_queued, forget_written
from bot.storage.retention import RetentionClaim
from bot.storage.rows import COLUMNS, INTERACTION, USER, RequestRow
from bot.storage.stats import Summary, summarize
from bot.storage.writer import BatchWriter

if TYPE_CHECKING:
    from bot.storage.broadcast import ForgetListener, ForgetNotice

log = logging.getLogger(__name__)
T = TypeVar("T")
REDO_ATTEMPTS = 5  # tries to redo another process's forget on a database that refuses


class RequestLog(BatchWriter):
    """Batched, non-blocking writer of :class:`RequestRow` to one database: a SQLite file
    (a Path or a ``sqlite:///`` URL) or a PostgreSQL server (a ``postgresql://`` URL)."""

    def __init__(
        self,
        target: Path | str,
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
        super().__init__(
            backend_for(target),
            flush_interval=flush_interval,
            busy_timeout_ms=busy_timeout_ms,
            max_pending=max_pending,
            close_attempts=close_attempts,
            max_backoff=max_backoff,
        )
        self.store_text = store_text
        self.retention_days = retention_days
        self.prune_interval = prune_interval
        self.forgotten_late = 0  # rows of forgotten users that arrived after the forget
        self._memory = ForgetMemory()
        self._reader: Connection | None = None
        self._reader_lock = asyncio.Lock()
        self._pruner: asyncio.Task[None] | None = None
        self._retention = RetentionClaim(self.backend.kind)
        self.retention_runs = 0  # the retention's prunes this process ran
        self._listener: ForgetListener | None = None  # PostgreSQL: other processes' forgets
        self._redoing: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()  # set by close: no more waiting to retry

    @classmethod
    async def open(cls, target: Path | str, **options: Any) -> RequestLog:
        """Open the log and start its writer (and, with a retention, its pruner). A database
        that cannot be opened now (locked, read-only, bad directory, a server that does not
        answer) is retried later; a newer schema raises StorageError."""
        self = cls(target, **options)
        try:
            self._db = await self.backend.connect(busy_timeout_ms=self.busy_timeout_ms)
        except Exception as exc:
            if not self.backend.is_database_error(exc):
                raise
            self._note_failure(f"cannot open: {exc}")
        self._writer = asyncio.create_task(self._run(), name="request-log-writer")
        await self._listen()
        if self.retention_days > 0:
            self._pruner = asyncio.create_task(self._prune_forever(), name="request-log-pruner")
        return self

    def health(self) -> str:
        text = f"request log: {self.written} written, {self.pending} pending, {self.lost} lost"
        if self.last_error:
            text += f" (last error: {self.last_error})"
        return text

    def log(self, row: RequestRow) -> None:
        """Queue a row; never blocks, never raises. A row of a user forgotten after it began
        is dropped; one below a forgotten request is stored without text."""
        if self._closing:
            self.lost += 1
            log.error("request log closed: lost a %s row for /%s", row.status, row.command)
            return
        try:
            values = self._memory.screen(row.values(text=self.store_text))
        except Exception as exc:  # e.g. params that JSON cannot encode
            self.lost += 1
            log.error("request log: cannot store a row for /%s (%s); dropped", row.command, exc)
            return
        if values is None:
            self.forgotten_late += 1
            log.info("request log: a late row of a forgotten user was not stored")
            return
        self._rows.append(values)  # overflow is trimmed by the writer, once per failed write
        self._wakeup.set()

    async def _read_only(self) -> Connection:
        """The read-only connection, opened on first use (and again if the server closed
        it)."""
        async with self._reader_lock:
            if self._reader is not None and self._reader.closed:
                reader, self._reader = self._reader, None
                with contextlib.suppress(Exception):
                    await reader.close()
            if self._reader is None:
                try:
                    self._reader = await self.backend.connect_read_only(
                        busy_timeout_ms=self.busy_timeout_ms
                    )
                except Exception as exc:
                    if not self.backend.is_database_error(exc):
                        raise
                    raise StorageError(f"request log {self.where} is unavailable: {exc}") from exc
            return self._reader

    async def _read(self, query: Callable[[Connection], Awaitable[T]]) -> T:
        """``query`` on the read-only connection; a database error as StorageError."""
        reader = await self._read_only()
        try:
            return await query(reader)
        except Exception as exc:
            if not self.backend.is_database_error(exc):
                raise
            raise StorageError(f"request log {self.where}: {exc}") from exc

    async def find(self, interaction_id: int) -> RequestRow | None:
        """The row of the request made by interaction ``interaction_id``, or None: never
        logged, pruned, or forgotten. Queued rows are written first (a write in progress is
        waited for); a row still queued because the database refuses writes raises
        StorageError (it is not gone, only not readable yet)."""
        flushed = await self.flush()
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM requests WHERE interaction_id = ? "
            "ORDER BY id DESC LIMIT 1"
        )
        rows = await self._read(lambda reader: reader.fetch(sql, (interaction_id,)))
        if rows:
            return RequestRow.from_values(rows[0])
        if not flushed and any(v[INTERACTION] == interaction_id for v in self._rows):
            raise StorageError(
                f"request log {self.where}: request {interaction_id} is not written yet "
                f"({self.last_error})"
            )
        return None

    async def summary(
        self, days: float | None = None, *, guild_id: int | None = None, user_id: int | None = None
    ) -> Summary:
        """Figures from the read-only connection (see :func:`summarize`)."""
        return await self._read(
            lambda reader: summarize(reader, days, guild_id=guild_id, user_id=user_id)
        )

    async def prune(self, older_than_days: float, *, now: float | None = None) -> int:
        """Delete rows older than the given age (then scrubbed: see :meth:`Connection.scrub`);
        returns how many."""
        db = await self._writable()
        cutoff = (time.time() if now is None else now) - older_than_days * 86400
        async with self._lock:
            async with db.transaction():
                deleted = await db.execute("DELETE FROM requests WHERE created_at < ?", (cutoff,))
            if deleted:
                await db.scrub()
        return deleted

    async def forget(self, user_id: int) -> Forgotten:
        """Delete every row of ``user_id`` (written or queued), take their id out of the
        members of other people's ``/name for:`` rows and the text out of the rows that
        copied theirs (see :mod:`bot.storage.forget`), then scrub (SQLite: truncate the WAL
        so no copy is left on disk; PostgreSQL: VACUUM the table). Rows of theirs that arrive
        later, made before now, are dropped."""
        at = time.time()
        db = await self._writable()
        async with self._lock:  # the writer takes its batches under this lock too
            queued = {v[INTERACTION] for v in self._rows if v[USER] == user_id and v[INTERACTION]}
            async with db.transaction():
                written, tainted = await forget_written(db, user_id, queued)
                if self._listener is not None:  # told to the other processes on commit
                    await self._listener.announce(db, user_id, at, tainted)
            # no await from here to the memory: rows logged meanwhile are in the queue
            self._rows, waiting = forget_queued(self._rows, user_id, tainted)
            self._memory.remember(user_id, at, tainted)
            await db.scrub()
        forgotten = Forgotten(
            deleted=written.deleted + waiting.deleted,
            scrubbed=written.scrubbed + waiting.scrubbed,
            cleared=written.cleared + waiting.cleared,
        )
        log.info(
            "request log: forgot user %s (%d rows deleted, %d scrubbed, %d cleared of text)",
            user_id,
            forgotten.deleted,
            forgotten.scrubbed,
            forgotten.cleared,
        )
        return forgotten

    async def close(self) -> None:
        """Flush what can be flushed, close both connections (whatever happens), and report
        rows written, pending and lost."""
        self._closing = True
        self._stopping.set()
        self._urgent.set()
        self._wakeup.set()
        try:
            if self._listener is not None:
                await self._listener.close()
            if self._redoing:  # each gives up, once closing, after its current try
                await asyncio.gather(*self._redoing, return_exceptions=True)
            if self._pruner is not None:
                self._pruner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._pruner
            if self._writer is not None:
                try:
                    await self._writer
                except Exception:  # the writer never raises; if it did, say so and go on
                    log.exception("request log %s: the writer failed", self.where)
        finally:
            if self.pending:
                unwritten = self.pending
                self.lost += unwritten
                log.error(
                    "request log %s: %d row(s) could NOT be written and are lost (%s)",
                    self.where,
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
                        log.error("request log %s: error while closing: %s", self.where, exc)
            level = logging.ERROR if self.lost else logging.INFO
            log.log(level, "%s, closed", self.health())

    async def _retention_prune(self) -> int:
        """The retention's prune, if this process applies it (on PostgreSQL one process of
        those sharing the log does: :mod:`bot.storage.retention`); how many rows it deleted."""
        db = await self._writable()
        async with self._lock:
            ours = await self._retention.ours(db)
        if not ours:
            return 0
        self.retention_runs += 1
        return await self.prune(self.retention_days)

    async def _prune_forever(self) -> None:
        """Apply the retention now and then every ``prune_interval`` seconds."""
        while True:
            try:
                deleted = await self._retention_prune()
            except Exception as exc:
                if isinstance(exc, StorageError) or self.backend.is_database_error(exc):
                    log.warning("request log %s: retention prune failed: %s", self.where, exc)
                else:
                    log.exception("request log %s: retention prune failed", self.where)
            else:
                if deleted:
                    log.info(
                        "request log %s: %d row(s) older than %g days deleted",
                        self.where,
                        deleted,
                        self.retention_days,
                    )
            await asyncio.sleep(self.prune_interval)

    async def _listen(self) -> None:
        """On PostgreSQL, listen for the other processes' forgets (SQLite: one process per
        file, nothing to hear)."""
        if self.backend.kind != POSTGRESQL:
            return
        from bot.storage.broadcast import ForgetListener
        from bot.storage.postgres import PostgresBackend

        assert isinstance(self.backend, PostgresBackend)
        self._listener = ForgetListener(self.backend.url, secrets.token_hex(8), self._noticed)
        await self._listener.start()

    def _noticed(self, notice: ForgetNotice) -> None:
        """Another process forgot a user: from now on their late rows are screened here
        too; the queue and the database follow in a task."""
        self._memory.remember(notice.user, notice.at, set(notice.ids))
        task = asyncio.create_task(self._forget_again(notice), name="request-log-forget-again")
        self._redoing.add(task)
        task.add_done_callback(self._redoing.discard)

    async def _forget_again(self, notice: ForgetNotice) -> None:
        """Forget as the other process did, what this one queued or wrote before it got the
        notice: under the writer's lock, so a write in flight is either written (and deleted
        here) or back in the queue (and dropped here). A database that refuses is retried a
        few times, not once closing."""
        tainted = set(notice.ids)
        async with self._lock:
            self._rows, waiting = forget_queued(self._rows, notice.user, tainted, notice.at)
            self._memory.remember(notice.user, notice.at, tainted)
        late = waiting.deleted
        for attempt in range(1, REDO_ATTEMPTS + 1):
            try:
                db = await self._writable()
                async with self._lock:
                    async with db.transaction():
                        written, found = await forget_written(db, notice.user, tainted, notice.at)
                    self._memory.remember(notice.user, notice.at, found)  # with rows written here
                    if written.deleted or written.cleared or written.scrubbed:
                        await db.scrub()
                late += written.deleted
                break
            except Exception as exc:
                if not isinstance(exc, StorageError) and not self.backend.is_database_error(exc):
                    log.exception("request log %s: forgetting again failed", self.where)
                    break
                if self._closing or attempt == REDO_ATTEMPTS:
                    log.error(
                        "request log %s: could not redo another process's forget of user %s "
                        "(%s); rows of theirs written here meanwhile may remain",
                        self.where,
                        notice.user,
                        exc,
                    )
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._backoff(attempt))
        self.forgotten_late += late
        if late:
            log.info("request log: %d late row(s) of a user forgotten elsewhere dropped", late)
