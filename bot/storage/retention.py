"""Which process applies the retention. A SQLite file has one bot process, which prunes it.
On PostgreSQL several processes (a bot's shard processes) share the log, and one of them
prunes, once per interval for the whole cluster: the one holding the retention lock, a
session advisory lock (``pg_try_advisory_lock``) taken on its writing connection and kept
while that connection lives. The others try again each interval, so when the holder stops
or loses its connection, the next one to try takes over."""

from __future__ import annotations

from bot.storage.backend import POSTGRESQL, Connection

RETENTION_LOCK = 0x4C535452  # the advisory lock's key ("LSTR"); migrations use another


class RetentionClaim:
    """Whether this process applies the retention (see the module)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._held_on: Connection | None = None  # the connection holding the lock

    async def ours(self, db: Connection) -> bool:
        """True on SQLite; on PostgreSQL, whether ``db`` (the writing connection) holds the
        retention lock, taking it if it is free. Run it under the writer's lock: one
        statement at a time on a connection."""
        if self.kind != POSTGRESQL:
            return True
        if db is self._held_on and not db.closed:
            return True  # held already: asking again would only stack the lock
        rows = await db.fetch("SELECT pg_try_advisory_lock(?)", (RETENTION_LOCK,))
        self._held_on = db if rows[0][0] else None
        return self._held_on is not None
