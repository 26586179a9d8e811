"""Show a generation as it is written: rate-limited edits of one or more messages.

:class:`StreamingReply` knows nothing of Discord; it talks to a :class:`Sink` that creates,
edits and deletes "message #i". The preview is re-rendered at most once per ``interval``
(all messages of a reply share the budget, so no message is edited faster than that), and
text pieces keep being consumed while an edit is in flight. :class:`InteractionSink` maps
message #0 to the interaction's original response and the rest to follow-ups.

A sink raises :class:`ReplyGone` when a message no longer exists (a user or moderator deleted
it, or the interaction expired): the stream then stops at once, since nobody can see more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import discord

from bot.discord.formatting import MESSAGE_LIMIT, neutralize, paginate, truncate

log = logging.getLogger(__name__)

CURSOR = " ▌"
GONE_CODES = frozenset({10008, 10015})  # Unknown Message, Unknown Webhook


class ReplyGone(Exception):
    """A message of the reply was deleted (or its interaction expired): stop showing it."""


class Sink(Protocol):
    async def show(self, index: int, content: str, view: discord.ui.View | None = None) -> None:
        """Create message ``index`` or replace its content (and its buttons, given a
        ``view``); :class:`ReplyGone` if it is gone."""

    async def remove(self, index: int) -> None:
        """Delete message ``index`` (a follow-up no longer needed)."""


class StreamingReply:
    """Streams text pieces into at most ``max_messages`` messages, then shows the final text."""

    def __init__(
        self,
        sink: Sink,
        *,
        interval: float = 1.0,
        limit: int = MESSAGE_LIMIT,
        max_messages: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.interval = interval
        self.limit = limit
        self.max_messages = max_messages
        self.clock = clock
        self.text = ""  # everything received so far
        self.first_piece_at: float | None = None
        self._shown: list[str] = []  # current content of each message
        self._last_render = -float("inf")
        self._changed = asyncio.Event()
        self._done = False
        self.gone = False  # a message was deleted under us: nothing more can be shown

    @property
    def visible(self) -> bool:
        """Whether any text has been shown to the user yet."""
        return bool(self._shown)

    async def stream(self, pieces: AsyncIterator[str], stop: asyncio.Event | None = None) -> bool:
        """Consume ``pieces`` while updating the preview. Returns False if ``stop`` was set
        or the reply was deleted (``gone``) first; the iterator is then abandoned (its
        consumer task is cancelled, which cancels the generation)."""
        consumer = asyncio.create_task(self._consume(pieces))
        editor = asyncio.create_task(self._edit_loop())
        waits: set[asyncio.Task[Any]] = {consumer, editor}  # the editor ends early if gone
        stopper = asyncio.create_task(stop.wait()) if stop is not None else None
        if stopper is not None:
            waits.add(stopper)
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if stopper is not None:
                stopper.cancel()
            if not consumer.done():
                consumer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await consumer
            self._done = True
            self._changed.set()
            await editor
        if consumer.cancelled():
            return False
        consumer.result()  # re-raise a generation error
        return True

    async def finish(self, final_text: str, view: discord.ui.View | None = None) -> None:
        """Replace the preview with ``final_text`` (split/truncated to fit), one last edit;
        ``view`` (buttons) goes under the last message."""
        pages = paginate(final_text, limit=self.limit, max_pages=self.max_messages)
        await self._wait_turn()
        await self._render(pages, view)
        for index in range(len(self._shown) - 1, len(pages) - 1, -1):
            await self.sink.remove(index)
            self._shown.pop()

    async def _consume(self, pieces: AsyncIterator[str]) -> None:
        async for piece in pieces:
            if self.first_piece_at is None:
                self.first_piece_at = self.clock()
            self.text += piece
            self._changed.set()

    async def _wait_turn(self) -> None:
        delay = self._last_render + self.interval - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _edit_loop(self) -> None:
        while True:
            await self._changed.wait()
            if self._done:
                return
            await self._wait_turn()
            if self._done:
                return
            self._changed.clear()
            try:
                await self._render(self._preview_pages())
            except ReplyGone:
                self.gone = True
                return
            except Exception as exc:  # a failed preview edit must not stop the generation
                log.warning("streaming edit failed (%s); will retry with the next text", exc)

    def _preview_pages(self) -> list[str]:
        room = self.limit - len(CURSOR)
        pages = paginate(neutralize(self.text), limit=room, max_pages=self.max_messages)
        pages[-1] = truncate(pages[-1], room) + CURSOR
        return pages

    async def _render(self, pages: list[str], view: discord.ui.View | None = None) -> None:
        self._last_render = self.clock()
        for index, content in enumerate(pages):
            extra = {"view": view} if view is not None and index == len(pages) - 1 else {}
            if index < len(self._shown):
                if self._shown[index] == content and not extra:
                    continue
                await self.sink.show(index, content, **extra)
                self._shown[index] = content
            else:
                await self.sink.show(index, content, **extra)
                self._shown.append(content)


class InteractionSink:
    """Message #0 is the (deferred) original response; the others are follow-ups."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction
        self._followups: dict[int, discord.WebhookMessage] = {}
        self._original_id: int | None = None

    def message_ids(self) -> list[int]:
        """The ids of the messages shown now, in order (what Delete removes)."""
        first = [] if self._original_id is None else [self._original_id]
        return first + [self._followups[i].id for i in sorted(self._followups)]

    async def show(self, index: int, content: str, view: discord.ui.View | None = None) -> None:
        extra: dict[str, Any] = {} if view is None else {"view": view}
        try:
            if index == 0:
                original = await self.interaction.edit_original_response(content=content, **extra)
                self._original_id = original.id
            elif index in self._followups:
                message = self._followups[index]
                self._followups[index] = await message.edit(content=content, **extra)
            else:
                message = await self.interaction.followup.send(content, wait=True, **extra)
                self._followups[index] = message
        except discord.NotFound as exc:
            if exc.code in GONE_CODES:
                raise ReplyGone(str(exc)) from exc
            raise

    async def remove(self, index: int) -> None:
        message = self._followups.pop(index, None)
        if message is not None:
            with contextlib.suppress(discord.NotFound):  # already deleted: as wanted
                await message.delete()
