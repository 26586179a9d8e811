"""The request log's privacy invariants as a hypothesis state machine (issue #23 §5).

The real bot (``create_bot``, as ``python -m bot run`` builds it) runs in this process
against the fake Discord, with real tiny models and a real SQLite file (or a fresh database on
a real PostgreSQL server: :func:`machine_for`). Random sequences of
steps: several users run every product and operator kind with a unique sentinel in every
free-text option, in servers and DMs; they press Reroll, Continue and Delete on their own
and each other's replies; ask /forget-me and confirm or cancel it (also while one of their
generations is running, and across a restart); the log is pruned; the bot is restarted (the
log closed and reopened); in ``full`` and in ``metadata`` mode. After every step:

1. every interaction has exactly one row, or none because it was forgotten or pruned, or
   is counted in the log's ``lost``;
2. after U's forget, no byte of the database file or its ``-wal`` (on PostgreSQL: no row),
   and no line of the process log, holds a sentinel U typed before it; no row made before
   it holds U's id;
3. in metadata mode no sentinel is anywhere, ever (database files and process log);
4. the database directory is 0700 and its files 0600 (SQLite);
5. /stats shows the caller only their own rows (this server's, or all of theirs in a DM),
   and /server-stats only this server's rows, and only to members with Manage Server.

``tests/e2e/test_privacy_invariants.py`` runs a short, derandomized run in the suite;
``python -m bench.invariants --examples N`` runs a long one.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, consumes, initialize, multiple, precondition, rule

from tests.e2e.helpers import ModelControl
from tests.e2e.invariants_base import (
    EDITS,
    MANAGER,
    PLACE,
    STEP_TIMEOUT,
    USER,
    MachineBase,
    Reply,
)
from tests.fakediscord import InteractionTrace
from tests.pg import PgServer


class PrivacyMachine(MachineBase):
    """See the module docstring."""

    replies = Bundle("replies")

    # ---- steps -----------------------------------------------------------------------------

    @initialize(mode=st.sampled_from(["full", "metadata"]))
    def start(self, mode: str) -> None:
        self.mode = mode
        self.run(self._start())

    # one rule per product, so that commands make up most steps
    @rule(target=replies, user=USER, place=PLACE)
    def lovecraft(self, user: int, place: int) -> Any:
        return self._product(user, "lovecraft", place, valid=True)

    @rule(target=replies, user=USER, place=PLACE)
    def poem(self, user: int, place: int) -> Any:
        return self._product(user, "poem", place, valid=True)

    @rule(target=replies, user=USER, place=PLACE)
    def story(self, user: int, place: int) -> Any:
        return self._product(user, "story", place, valid=True)

    @rule(target=replies, user=USER, place=PLACE, valid=st.booleans())
    def name(self, user: int, place: int, valid: bool) -> Any:
        return self._product(user, "name", place, valid)

    @rule(target=replies, user=USER, place=PLACE, valid=st.booleans())
    def write(self, user: int, place: int, valid: bool) -> Any:
        return self._product(user, "write", place, valid)

    @rule(target=replies, user=USER, place=PLACE, valid=st.booleans())
    def operator_names(self, user: int, place: int, valid: bool) -> Any:
        return self._product(user, "tags", place, valid)

    @rule(target=replies, user=USER)
    def christen(self, user: int) -> Any:
        return self._product(user, "Christen", 0, valid=True)

    def _product(self, user: int, product: str, place: int, valid: bool) -> Any:
        self.tick(product)
        trace = self.run(self._command(user, product, place, valid))
        return multiple() if trace.ephemeral else Reply(trace, user)

    async def _command(self, user: int, product: str, place: int, valid: bool) -> InteractionTrace:
        s = self.sentinel(user)  # a sentinel in every free-text option
        options: dict[str, Any] = {
            "lovecraft": {"prompt": s, "length": 12},
            "poem": {"first_line": s, "lines": 2},
            "name": {"count": 2} if valid else {"starts_with": s[:10], "count": 2},
            "story": {"seed_words": s, "length": 6},
            "write": {"model": "lovecraft" if valid else s, "prompt": s, "length": 12},
            "tags": {"style": "english" if valid else s, "count": 2},
            "Christen": {},
        }[product]
        where = self.where(place)
        if product == "Christen":
            where = {"guild": self.guilds[0], "target": self.users[(user + 1) % 3]}
        trace = await self.fake.run_command(
            user=self.users[user], name=product, options=options, **where
        )
        self.note(trace, user)
        return await self.settle(trace)

    @rule(target=replies, reply=replies, user=USER)
    def reroll(self, reply: Reply, user: int) -> Any:
        return self._again(reply, user, "Reroll")

    @rule(target=replies, reply=replies, user=USER)
    def continue_(self, reply: Reply, user: int) -> Any:
        return self._again(reply, user, "Continue")

    def _again(self, reply: Reply, user: int, action: str) -> Any:
        self.tick(action)
        trace = self.run(self._press(reply, user, action))
        return multiple() if trace is None or trace.ephemeral else Reply(trace, user)

    async def _press(self, reply: Reply, user: int, action: str) -> InteractionTrace | None:
        try:
            trace = await self.fake.click(reply.trace, action, user=self.users[user])
        except ValueError:
            return None  # no such button on this reply (metadata mode, not continuable)
        self.counts[f"pressed {action}"] += 1
        self.note(trace, user)
        return await self.settle(trace)

    @rule(reply=consumes(replies), user=USER)
    def delete(self, reply: Reply, user: int) -> None:
        self.tick("delete")
        self.run(self._press(reply, user, "Delete"))

    @rule(user=USER, confirm=st.booleans(), running=st.booleans())
    def forget_me(self, user: int, confirm: bool, running: bool) -> None:
        self.tick("forget_me")
        self.run(self._forget(user, confirm, running))

    @precondition(lambda self: self.step - self.restarted_at >= 4)  # not too often
    @rule(user=USER, confirm=st.booleans())
    def forget_across_restart(self, user: int, confirm: bool) -> None:
        """The bot restarts between the question and the answer."""
        self.tick("forget_across_restart")
        self.restarted_at = self.step
        self.run(self._forget(user, confirm, running=False, restart=True))

    async def _forget(self, user: int, confirm: bool, running: bool, restart: bool = False) -> None:
        ask = await self.fake.run_command(user=self.users[user], name="forget-me",
                                          guild=self.guilds[0])  # fmt: skip
        self.note(ask, user)
        await ask.wait_for(lambda t: t.answered, STEP_TIMEOUT)
        await self.bot.request_log.flush()
        if restart:
            await self._restart()
        control = ModelControl(self.bot, "lovecraft")
        busy: InteractionTrace | None = None
        with control:
            if running:  # a generation of theirs is running when they confirm
                control.hold()
                s = self.sentinel(user)
                busy = await self.fake.run_command(
                    user=self.users[user], name="lovecraft", options={"prompt": s, "length": 12},
                    guild=self.guilds[0],
                )  # fmt: skip
                self.note(busy, user)
                await control.wait_held()
            answer = await self.fake.click(ask, "Delete my data" if confirm else "Cancel")
            self.note(answer, user, logged=False)
            await answer.wait_for(
                lambda t: t.final_text.startswith(("Done", "Nothing")), STEP_TIMEOUT
            )
            if confirm:
                self.forgotten_at[user] = self.step
                for sent in self.sent.values():
                    if sent.user == user:
                        sent.gone = True
            control.release()
        if busy is not None:
            await self.settle(busy)
        assert await self.bot.requests.wait_idle(STEP_TIMEOUT)
        await self.bot.request_log.flush()

    @precondition(lambda self: len(self.sent) - self.pruned_at >= 8)  # not too often
    @rule()
    def prune(self) -> None:
        self.tick("prune")
        self.pruned_at = len(self.sent)
        self.run(self._prune())

    async def _prune(self) -> None:
        await self.bot.request_log.flush()
        await asyncio.sleep(0.01)
        await self.bot.request_log.prune(0.0)  # everything logged so far
        for sent in self.sent.values():
            sent.gone = True

    @precondition(lambda self: self.step - self.restarted_at >= 4)  # not too often
    @rule()
    def restart(self) -> None:
        self.tick("restart")
        self.restarted_at = self.step
        self.run(self._restart())

    async def _restart(self) -> None:
        await self._shutdown()
        await self._boot()

    @precondition(lambda self: self.step - self.restarted_at >= 8)  # slow: ~3 s each
    @rule(user=USER, slow=st.booleans(), locked=st.booleans())
    def restart_while_running(self, user: int, slow: bool, locked: bool) -> None:
        """Shut down while a generation streams, Discord answers no edit (``slow``) and/or
        another connection holds the database's write lock (``locked``)."""
        self.tick("restart_while_running")
        self.restarted_at = self.step
        self.run(self._restart_while_running(user, slow, locked))

    async def _restart_while_running(self, user: int, slow: bool, locked: bool) -> None:
        holds = []
        async with contextlib.AsyncExitStack() as lock:  # released after the holds
            try:
                with ModelControl(self.bot, "lovecraft", step_s=0.001):  # streams >= 2 s
                    s = self.sentinel(user)
                    trace = await self.fake.run_command(
                        user=self.users[user], name="lovecraft", guild=self.guilds[0],
                        options={"prompt": s, "length": 2000},
                    )  # fmt: skip
                    self.note(trace, user)
                    await trace.wait_for(lambda t: t.first_text_at is not None, STEP_TIMEOUT)
                    if slow:
                        holds = [self.fake.faults.hold(r, times=None) for r in EDITS]
                    if locked:
                        await lock.enter_async_context(self.write_locked())
                    await self._shutdown()
            finally:
                for hold in holds:
                    hold.release()
        await self._boot()

    @rule(user=USER, place=PLACE)
    def stats(self, user: int, place: int) -> None:
        self.tick("stats")
        self.run(self._stats(user, place, server=False, manager=False))

    @rule(user=USER, place=st.integers(0, 1), manager=st.booleans())
    def server_stats(self, user: int, place: int, manager: bool) -> None:
        self.tick("server-stats")
        self.run(self._stats(user, place, server=True, manager=manager))

    async def _stats(self, user: int, place: int, *, server: bool, manager: bool) -> None:
        """Invariant 5, checked against the rows as they are when the command runs."""
        who = self.users[user]
        await self.bot.request_log.flush()
        rows = await self.stored_rows()
        guild = None if place == 2 else int(self.guilds[place].id)
        if server:
            trace = await self.fake.run_command(
                user=who, name="server-stats", guild=self.guilds[place],
                permissions=MANAGER if manager else None,
            )  # fmt: skip
            want = [r for r in rows if r["guild_id"] == guild]
        else:
            trace = await self.fake.run_command(user=who, name="stats", **self.where(place))
            want = [r for r in rows if int(r["user_id"]) == int(who.id)
                    and (guild is None or r["guild_id"] == guild)]  # fmt: skip
        self.note(trace, user)
        await self.settle(trace)
        text = trace.final_text
        assert trace.ephemeral, text
        if server and not manager:
            assert "cannot use this command" in text, text
            return
        total = re.search(r"\): (\d+)$", text.splitlines()[0])
        count = int(total.group(1)) if total else 0
        assert count == len(want), (text, len(want))
        members = {int(r["user_id"]) for r in want}
        for other in self.users:
            if int(other.id) not in members:
                assert other.mention not in text and other.id not in text, text


def machine_for(models_dir: Path, pg_server: PgServer | None = None) -> type[PrivacyMachine]:
    """The machine class bound to ``models_dir``; with ``pg_server``, each run's request
    log is a fresh database there instead of a SQLite file."""
    bound = {"models_dir": models_dir, "pg_server": pg_server}
    return type("PrivacyInvariants", (PrivacyMachine,), bound)
