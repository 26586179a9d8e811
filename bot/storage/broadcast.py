"""``/forget-me`` across the processes that share one PostgreSQL log (a bot's shard
processes). Each process remembers its forgets in memory (:class:`ForgetMemory`); without
telling the others, a request of the user that another process is still serving (or has
queued, not written yet) would be logged there afterwards, prompt included.

The forgetting process sends ``NOTIFY`` on :data:`CHANNEL` inside the forget's transaction,
so it goes out if, and when, the forget commits: the user id, the forget's time, and the
interaction ids whose rows held the user's text (split over several notifications when they
do not fit in one payload, at most 8000 bytes). Every RequestLog on PostgreSQL LISTENs on a
dedicated connection (:class:`ForgetListener`), opened again when it drops. On a notice it
forgets as the forgetting process did (:meth:`RequestLog._forget_again`): it remembers the
forget, drops or clears its queued rows, and runs the forget again on the database for the
user's rows created at or before the forget's time (a row it wrote between the forget's
commit and the notice). Forgetting twice changes nothing, so a repeated notice is harmless;
a process skips its own.

A notice is not stored: a process whose listening connection is down when one is sent (the
server restarting) does not get it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import asyncpg

from bot.storage.backend import Connection

log = logging.getLogger(__name__)

CHANNEL = "lstm_forget"
APPLICATION_NAME = "lstm-bot forget listener"  # how pg_stat_activity shows the connection
IDS_PER_NOTICE = 300  # an id is at most 20 characters: 300 of them fit in 8000 bytes
CONNECT_TIMEOUT_S = 10.0
CHECK_S = 30.0  # how often an idle listening connection is checked
MAX_RETRY_S = 30.0


@dataclass(frozen=True)
class ForgetNotice:
    """One notification: ``user`` forgotten at ``at`` by process ``origin``; ``ids``: some
    (or all) of the interaction ids whose rows held their text."""

    origin: str
    user: int
    at: float
    ids: frozenset[int]


def payloads(origin: str, user: int, at: float, ids: set[int]) -> Iterator[str]:
    """The notifications of one forget: each fits in NOTIFY's 8000 bytes."""
    ordered = sorted(ids)
    for start in range(0, max(len(ordered), 1), IDS_PER_NOTICE):
        chunk = ordered[start : start + IDS_PER_NOTICE]
        yield json.dumps({"origin": origin, "user": user, "at": at, "ids": chunk})


def parse(payload: str) -> ForgetNotice:
    """The notice in ``payload``; ValueError (or KeyError, TypeError) if it is not one."""
    data = json.loads(payload)
    return ForgetNotice(
        origin=str(data["origin"]),
        user=int(data["user"]),
        at=float(data["at"]),
        ids=frozenset(int(i) for i in data["ids"]),
    )


async def announce(db: Connection, origin: str, user: int, at: float, ids: set[int]) -> None:
    """Send the forget's notices, inside the forget's transaction (sent on commit)."""
    for payload in payloads(origin, user, at, ids):
        await db.execute("SELECT pg_notify(?, ?)", (CHANNEL, payload))


class ForgetListener:
    """A connection that LISTENs on :data:`CHANNEL` and hands the other processes' notices
    to ``on_notice``; opened again (after 0.1 s, then backing off while that fails) whenever
    it drops or stops answering."""

    def __init__(self, url: str, origin: str, on_notice: Callable[[ForgetNotice], None]):
        self.url = url
        self.origin = origin
        self.on_notice = on_notice
        self.connections = 0  # how many times it started listening
        self.listening = asyncio.Event()
        self._tried = asyncio.Event()  # the first connection attempt is over
        self._task: asyncio.Task[None] | None = None

    async def announce(self, db: Connection, user: int, at: float, ids: set[int]) -> None:
        """Send this process's forget, inside its transaction (sent on commit)."""
        await announce(db, self.origin, user, at, ids)

    async def start(self, wait_s: float = CONNECT_TIMEOUT_S) -> None:
        """Start listening; wait (up to ``wait_s``) for the first attempt to listen, which
        fails at once on a server that refuses (then it is retried in the background)."""
        self._task = asyncio.create_task(self._run(), name="request-log-forget-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._tried.wait(), wait_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _received(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            notice = parse(payload)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("request log: ignored a malformed forget notice (%s)", exc)
            return
        if notice.origin != self.origin:
            self.on_notice(notice)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._listen_once()
                failures = 0
            except Exception as exc:  # whatever it is, listening must go on
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    log.warning("request log: listening for forgets failed (%s); retrying", exc)
            finally:
                self.listening.clear()
                self._tried.set()
            await asyncio.sleep(min(0.5 * 2.0 ** (failures - 1), MAX_RETRY_S) if failures else 0.1)

    async def _listen_once(self) -> None:
        """Listen on a new connection until it is lost."""
        conn = await asyncpg.connect(
            self.url,
            timeout=CONNECT_TIMEOUT_S,
            server_settings={"application_name": APPLICATION_NAME},
        )
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _c: lost.set())
            await conn.add_listener(CHANNEL, self._received)
            self.connections += 1
            self.listening.set()
            self._tried.set()
            await self._watch(conn, lost)
        finally:
            conn.terminate()

    @staticmethod
    async def _watch(conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Return when ``conn`` is closed, or fails a check every CHECK_S seconds (a
        connection can die without a word, e.g. behind a NAT)."""
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), CHECK_S)
            if not lost.is_set():
                await conn.execute("SELECT 1", timeout=CONNECT_TIMEOUT_S)
