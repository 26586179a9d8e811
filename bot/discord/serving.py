"""Run one generation for a slash command: options, limits, defer, stream, final text, log row.

Failures before anything is shown (bad options, refusal) raise, and the tree answers them
ephemerally. The options are checked before the limiter is asked, so a rejected request never
uses up a cooldown slot. Later failures close the reply cleanly: partial text loses its
cursor and gets a note (the tree then answers privately), a shutdown stops the stream and
says so in the reply, and a reply deleted by a user or moderator stops the generation at once.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands

from bot.discord.buttons import MESSAGES_PARAM
from bot.discord.formatting import echo_tail, neutralize, with_notes
from bot.discord.streaming import InteractionSink, ReplyGone, StreamingReply
from bot.engine.kinds import Status
from bot.generators.base import Busy, Generation, GenerationResult
from bot.products import Product

if TYPE_CHECKING:
    from bot.discord.context import ServingContext

log = logging.getLogger(__name__)

STOPPED_NOTE = "Stopped early: the bot is restarting."
FAILED_NOTE = "Stopped early: this generation failed."

T = TypeVar("T")


def everywhere(command: T) -> T:
    """Allow a command in guilds, DMs and group DMs, installed to a guild or to a user."""
    command = app_commands.allowed_installs(guilds=True, users=True)(command)
    return app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)(command)


def footnotes(result: GenerationResult) -> list[str]:
    """The generator's remarks plus the seed, so a user can reproduce a reply."""
    notes = list(result.notes)
    if result.extras.get("seed") is not None:
        notes.append(f"seed {result.extras['seed']}")
    return notes


class EchoCap:
    """A generation's pieces with the first one, the user's own text echoed back, cut to
    its last ``ECHO_LIMIT`` characters (a 6,000-character prompt is not shown in full)."""

    def __init__(self, pieces: AsyncIterator[str]) -> None:
        self._pieces = pieces
        self._echo: tuple[str, str] | None = None  # (as generated, as shown)

    def __aiter__(self) -> EchoCap:
        return self

    async def __anext__(self) -> str:
        piece = await self._pieces.__anext__()
        if self._echo is None:
            self._echo = (piece, echo_tail(piece))
            return self._echo[1]
        return piece

    def shown(self, text: str) -> str:
        """``text`` (the generation's whole text) with the echo cut as it was shown."""
        if self._echo is not None and text.startswith(self._echo[0]):
            return self._echo[1] + text[len(self._echo[0]) :]
        return text


async def serve(
    bot: ServingContext,
    interaction: discord.Interaction,
    *,
    product: Product,
    start: Callable[[], Generation],
    render: Callable[[GenerationResult], str],
    params: dict[str, Any],
    prompt: str | None = None,
    echo: bool = False,
    view: discord.ui.View | None = None,
) -> None:
    """Serve ``start()``'s generation as a streamed reply and log the request as ok or
    cancelled. ``echo``: the generation's first piece is the user's text, shown shortened;
    ``view``: buttons for the finished reply (not for one stopped early)."""
    record = bot.requests.get(interaction)
    record.model = product.model
    record.params = {k: v for k, v in params.items() if v is not None}
    record.prompt = prompt
    generation = start()  # checks the options: an invalid request costs no cooldown
    try:
        lease = bot.limiter.acquire(interaction.user.id, interaction.guild_id)
    except BaseException:
        await generation.aclose()
        raise
    status = Status.CANCELLED
    try:
        await interaction.response.defer(thinking=True)
        sink = InteractionSink(interaction)
        reply = StreamingReply(
            sink,
            interval=bot.settings.edit_interval_s,
            max_messages=bot.settings.max_messages,
        )
        record.reply = reply
        pieces = EchoCap(generation) if echo else generation
        try:
            completed = await reply.stream(pieces, bot.stopping)
        except Exception as exc:
            if isinstance(exc, Busy):
                lease.refund()  # the engine turned it away: not a use of the cooldown
            await _close_failed(reply)
            raise
        finally:
            await generation.aclose()
        if reply.first_piece_at is not None:
            record.first_token_s = reply.first_piece_at - record.started
        result = generation.result
        if completed and result is not None:
            status = Status.OK
            record.model, record.tokens = result.model, result.tokens
            record.output = result.text
            if isinstance(pieces, EchoCap):
                result = dataclasses.replace(result, text=pieces.shown(result.text))
            final = render(result)
        else:
            record.output = reply.text
            final = with_notes(neutralize(reply.text) or "…", [STOPPED_NOTE])
        # The generation is over: free the user's slot before the final edit, so a user
        # who sees the finished reply can always start the next one at once.
        lease.release()
        if reply.gone:
            raise ReplyGone
        await reply.finish(final, view if status == Status.OK else None)
        if status == Status.OK:  # the parts Delete removes (ids only: kept in metadata mode too)
            record.params[MESSAGES_PARAM] = sink.message_ids()
    except ReplyGone:
        status = Status.CANCELLED
        log.info(
            "the reply to /%s of user %s was deleted: stopped", product.command, interaction.user.id
        )
    finally:
        lease.release()
    bot.requests.finish(interaction, status)


async def _close_failed(reply: StreamingReply) -> None:
    """After a failure mid-stream, partial text keeps no cursor: it gets a note instead."""
    if not reply.visible or reply.gone:
        return  # nothing shown: the tree deletes the "thinking…" placeholder
    try:
        await reply.finish(with_notes(neutralize(reply.text) or "…", [FAILED_NOTE]))
    except (ReplyGone, discord.HTTPException) as exc:
        log.info("could not close a failed reply: %s", exc)
