"""The pieces of the privacy state machine (``tests/e2e/invariants.py``) that are not its
steps: the world it runs (the real bot in this process against the fake Discord), what it
remembers of each interaction, the process log it captures, and the invariants checked after
every step."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import shutil
import sqlite3
import stat
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
)

from tests.e2e.botharness import RunningBot, read_rows, running_bot
from tests.e2e.checks import finished
from tests.fakediscord import FakeDiscord, FakeUser, InteractionTrace
from tests.fakediscord.payloads import DEFAULT_PERMISSIONS
from tests.pg import PgServer

MANAGER = int(DEFAULT_PERMISSIONS) | (1 << 5)  # Manage Server
ENV = {
    "BOT_EDIT_INTERVAL": "0.2",
    "BOT_LOG_FLUSH_INTERVAL": "0.05",
    "BOT_SHUTDOWN_GRACE": "0",
    "BOT_CONFIG": "",  # set per machine: an operator names command, "tags"
}
OPERATOR = '[[commands]]\nname = "tags"\nmodel = "names"\nkind = "names"\n'
STEP_TIMEOUT = 30.0
USERS = ("alice", "bob", "carol")
USER = st.integers(0, len(USERS) - 1)
PLACE = st.integers(0, 2)  # the first server, the second, a DM
EDITS = ("edit_original", "edit_followup", "followup")


@dataclass
class Sent:
    """One interaction the machine made, and what the log should hold of it."""

    interaction_id: int
    user: int  # index into USERS
    step: int
    logged: bool = True  # a row is expected (the forget question's buttons have none)
    gone: bool = False  # forgotten or pruned: no row expected


@dataclass
class Reply:
    trace: InteractionTrace
    user: int


class LogCapture(logging.Handler):
    """Every record the process logs at INFO and above, formatted as printed."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class MachineBase(RuleBasedStateMachine):
    """The world, the bookkeeping and the invariants; the steps are in
    :class:`tests.e2e.invariants.PrivacyMachine`. ``models_dir``: the tiny models."""

    models_dir: Path  # set by :func:`machine_for`
    pg_server: PgServer | None = None  # set: the log is a fresh database on this server

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = Path(tempfile.mkdtemp(prefix="invariants-"))
        self.db = self.tmp / "data" / "requests.db"
        config = self.tmp / "bot.toml"
        config.write_text(OPERATOR)
        self.env = {**ENV, "BOT_CONFIG": str(config)}
        self.db_url: str | None = None
        if self.pg_server is not None:
            self.database = f"invariants_{self.tmp.name[len('invariants-') :].lower()}"
            self.pg_server.create_database(self.database)
            self.db_url = self.pg_server.url(self.database)
            self.env["BOT_DB_URL"] = self.db_url
        self.capture = LogCapture()
        logging.getLogger().addHandler(self.capture)
        self.previous_level = logging.getLogger().level
        logging.getLogger().setLevel(logging.INFO)
        self.stack = contextlib.AsyncExitStack()
        self.bot_stack: contextlib.AsyncExitStack | None = None
        self.rb: RunningBot | None = None
        self.sent: dict[int, Sent] = {}
        self.step = 0
        self.counter = itertools.count()
        self.sentinels: list[tuple[str, int, int]] = []  # (sentinel, user, step)
        self.forgotten_at: dict[int, int] = {}  # user -> step of their last forget
        self.lost = 0  # over every bot run so far
        self.mode = "full"
        self.pruned_at = self.restarted_at = 0
        self.counts: Counter[str] = Counter()  # steps by kind, for the long run's report

    # ---- running things --------------------------------------------------------------------

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 4 * STEP_TIMEOUT))

    async def _start(self) -> None:
        self.fake = await self.stack.enter_async_context(FakeDiscord())
        self.fake.done_rule = finished
        self.users: list[FakeUser] = [self.fake.add_user(n) for n in USERS]
        self.guilds = [self.fake.add_guild(n, members=self.users) for n in ("Writers", "Readers")]
        await self._boot()

    async def _boot(self) -> None:
        self.bot_stack = contextlib.AsyncExitStack()
        env = {**self.env, "BOT_LOG_CONTENT": self.mode}
        self.rb = await self.bot_stack.enter_async_context(
            running_bot(self.fake, self.models_dir, self.db, env=env, sync=False)
        )

    async def _shutdown(self) -> None:
        assert self.rb is not None and self.bot_stack is not None
        log = self.rb.bot.request_log
        await self.bot_stack.aclose()
        self.lost += log.lost if log is not None else 0
        self.rb = self.bot_stack = None

    def teardown(self) -> None:
        try:
            if self.rb is not None:
                self.run(self._shutdown())
            self.run(self.stack.aclose())
        finally:
            self.loop.run_until_complete(_cancel_all())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()
            logging.getLogger().removeHandler(self.capture)
            logging.getLogger().setLevel(self.previous_level)
            shutil.rmtree(self.tmp, ignore_errors=True)
            if self.pg_server is not None:
                self.pg_server.drop_database(self.database)

    async def stored_rows(self) -> list[dict[str, Any]]:
        """Every request-log row, read around the bot (sqlite3, or asyncpg on PostgreSQL)."""
        if self.db_url is None:
            return read_rows(self.db)
        conn = await asyncpg.connect(self.db_url)
        try:
            if await conn.fetchval("SELECT to_regclass('requests')") is None:
                return []
            return [dict(r) for r in await conn.fetch("SELECT * FROM requests ORDER BY id")]
        finally:
            await conn.close()

    @contextlib.asynccontextmanager
    async def write_locked(self) -> AsyncIterator[None]:
        """Another connection holds the database's write lock meanwhile."""
        if self.db_url is None:
            other = sqlite3.connect(self.db, timeout=10, isolation_level=None)
            try:
                other.execute("BEGIN EXCLUSIVE")
                yield
            finally:
                if other.in_transaction:
                    other.rollback()
                other.close()
            return
        conn = await asyncpg.connect(self.db_url)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE requests IN EXCLUSIVE MODE")
                yield
        finally:
            await conn.close()

    @property
    def bot(self) -> Any:
        assert self.rb is not None
        return self.rb.bot

    def where(self, place: int) -> dict[str, Any]:
        """Where a command runs: place 0 and 1 are the two servers, 2 a DM."""
        return {"user_installed": True} if place == 2 else {"guild": self.guilds[place]}

    def tick(self, what: str) -> None:
        self.step += 1
        self.counts[what] += 1

    def sentinel(self, user: int) -> str:
        """A new text for one free-text option of ``user``; its digits make it unlike
        anything a tiny model writes, and refused by /name (so the refusal quotes it)."""
        text = f"qz{next(self.counter)}u{user}w"
        self.sentinels.append((text, user, self.step))
        return text

    def note(self, trace: InteractionTrace, user: int, *, logged: bool = True) -> None:
        self.sent[int(trace.interaction_id)] = Sent(int(trace.interaction_id), user, self.step,
                                                    logged)  # fmt: skip

    async def settle(self, trace: InteractionTrace) -> InteractionTrace:
        """Until the bot has taken the interaction (acknowledged it), every request it holds
        has logged its row, and the rows are written."""
        await trace.wait_for(lambda t: t.acknowledged, STEP_TIMEOUT)
        assert await self.bot.requests.wait_idle(STEP_TIMEOUT), "a request never finished"
        await self.bot.request_log.flush()
        return trace

    # ---- invariants --------------------------------------------------------------------------

    @invariant()
    def one_row_each(self) -> None:
        if self.rb is None:
            return
        self.run(self.bot.request_log.flush())
        lost = self.lost + self.bot.request_log.lost
        rows: dict[int, int] = {}
        for r in self.run(self.stored_rows()):
            rows[int(r["interaction_id"])] = rows.get(int(r["interaction_id"]), 0) + 1
        missing = 0
        for sent in self.sent.values():
            n = rows.pop(sent.interaction_id, 0)
            if not sent.logged or sent.gone:
                assert n == 0, (sent, n)
            else:
                assert n <= 1, (sent, n)
                missing += 1 - n
        assert rows == {}, f"rows of unknown interactions: {rows}"
        assert missing <= lost, f"{missing} row(s) missing, {lost} counted lost"

    @invariant()
    def forgotten_and_metadata_leave_no_text(self) -> None:
        if self.rb is None:
            return
        stored = b"".join(p.read_bytes() for p in self._files() if not p.name.endswith("-shm"))
        rows = self.run(self.stored_rows())
        if self.db_url is not None:  # PostgreSQL's files are the server's: the rows, then
            stored = repr(rows).encode()
        logged = self.capture.text
        for text, user, step in self.sentinels:
            forgotten = self.forgotten_at.get(user, -1) >= step
            if forgotten or self.mode == "metadata":
                assert text.encode() not in stored, f"{text} of user {user} is on disk"
                assert text not in logged, f"{text} of user {user} is in the process log"
        for r in rows:
            sent = self.sent.get(int(r["interaction_id"]))
            assert sent is not None and not sent.gone, r
            for user, step in self.forgotten_at.items():
                if sent.step <= step:  # made before the user's forget: no trace of their id
                    assert self.users[user].id not in str(r["params"]), r

    @invariant()
    def files_are_private(self) -> None:
        if not self.db.parent.exists():  # (PostgreSQL: the bot makes no file)
            return
        assert stat.S_IMODE(self.db.parent.stat().st_mode) == 0o700
        for f in self._files():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f

    def _files(self) -> list[Path]:
        if not self.db.parent.exists():  # PostgreSQL: the bot makes no file
            return []
        return [p for p in self.db.parent.iterdir() if p.name.startswith(self.db.name)]


async def _cancel_all() -> None:
    """Cancel what is left on the machine's loop (the fake's and discord.py's tasks)."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
