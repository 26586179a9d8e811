"""Exactly one request-log row per slash-command interaction.

The tree's ``interaction_check`` opens a :class:`PendingRequest` (kept in
``interaction.extras``) for every accepted command; it is closed exactly once, either by the
command itself when it succeeds or by ``tree.on_error``. The tracker counts open requests so
a shutdown can wait until every in-flight command has answered and logged its row, and
log the rows of those that ran out of time (:meth:`RequestTracker.abandon`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from bot.engine.kinds import Status
from bot.storage import RequestFields, RequestLog, RequestRow

if TYPE_CHECKING:
    from bot.discord.streaming import StreamingReply

_KEY = "request"
MAX_ERROR_CHARS = 500


@dataclass(kw_only=True)
class PendingRequest(RequestFields):
    """A command's row in the making, and what the tracker needs to close it."""

    counted: bool  # opened by interaction_check (tracked for shutdown)
    started: float = field(default_factory=time.monotonic)
    reply: StreamingReply | None = None  # set once text may be visible to the user
    logged: bool = False

    @property
    def visible(self) -> bool:
        return self.reply is not None and self.reply.visible


class RequestTracker:
    """Opens, closes and counts the pending requests of one bot."""

    def __init__(self) -> None:
        self.request_log: RequestLog | None = None  # set once storage is open
        # called with each row as it is logged, and the failure it records (the metrics)
        self.on_row: Callable[[RequestRow, BaseException | None], None] | None = None
        self.accepting = True
        # the open requests' interactions and the tasks serving them, by interaction id
        self._live: dict[int, tuple[discord.Interaction, asyncio.Task[Any] | None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return len(self._live)

    def begin(self, interaction: discord.Interaction) -> PendingRequest:
        record = self._new(interaction, counted=True)
        interaction.extras[_KEY] = record
        self._live[interaction.id] = (interaction, asyncio.current_task())
        self._idle.clear()
        return record

    def get(self, interaction: discord.Interaction) -> PendingRequest:
        """The interaction's record (one is made, uncounted, if the check never ran)."""
        record = interaction.extras.get(_KEY)
        if not isinstance(record, PendingRequest):
            record = interaction.extras[_KEY] = self._new(interaction, counted=False)
        return record

    def finish(
        self, interaction: discord.Interaction, status: Status, error: BaseException | None = None
    ) -> None:
        """Log the interaction's row (once; later calls are ignored) and close it."""
        record = self.get(interaction)
        if record.logged:
            return
        record.logged = True
        row = record.ended(status, time.monotonic() - record.started, _describe(error))
        if self.request_log is not None:
            self.request_log.log(row)
        if self.on_row is not None:
            self.on_row(row, error)
        if record.counted:
            self._live.pop(interaction.id, None)
            if not self._live:
                self._idle.set()

    def abandon(self, error: BaseException) -> list[asyncio.Task[Any]]:
        """Log every open request now as cancelled, with ``error`` and what its reply had
        shown (a shutdown out of time), and return the tasks still serving them, for the
        caller to cancel before the HTTP session they use goes away."""
        tasks = []
        for interaction, task in list(self._live.values()):
            record = self.get(interaction)
            if record.output is None and record.reply is not None:
                record.output = record.reply.text
            self.finish(interaction, Status.CANCELLED, error)
            if task is not None and task is not asyncio.current_task():
                tasks.append(task)
        return tasks

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until every open request has finished; False if ``timeout`` passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @staticmethod
    def _new(interaction: discord.Interaction, *, counted: bool) -> PendingRequest:
        data: Any = interaction.data or {}
        return PendingRequest(
            user_id=interaction.user.id,
            command=str(data.get("name", "?")),
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            counted=counted,
            interaction_id=interaction.id,
        )


def _describe(error: BaseException | None) -> str | None:
    if error is None:
        return None
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]
