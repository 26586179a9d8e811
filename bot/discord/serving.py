"""Run one generation for a slash command: limits, defer, stream, final text, log row.

Failures before anything is shown (refusal, bad options) raise, and the tree answers them
ephemerally; a shutdown stops the stream and says so in the reply itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands

from bot.discord.formatting import neutralize, with_notes
from bot.discord.streaming import InteractionSink, StreamingReply
from bot.generators import PRODUCT_MODELS
from bot.generators.base import Generation, GenerationResult

if TYPE_CHECKING:
    from bot.discord.bot import LSTMBotBase

STOPPED_NOTE = "Stopped early: the bot is restarting."

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


async def serve(
    bot: LSTMBotBase,
    interaction: discord.Interaction,
    *,
    product: str,
    start: Callable[[], Generation],
    render: Callable[[GenerationResult], str],
    params: dict[str, Any],
    prompt: str | None = None,
) -> None:
    """Serve ``start()``'s generation as a streamed reply and log the request as ok/cancelled."""
    record = bot.requests.get(interaction)
    record.model = PRODUCT_MODELS.get(product)
    record.params = {k: v for k, v in params.items() if v is not None}
    record.prompt = prompt
    lease = bot.limiter.acquire(interaction.user.id, interaction.guild_id)
    try:
        generation = start()
        try:
            await interaction.response.defer(thinking=True)
            reply = StreamingReply(
                InteractionSink(interaction),
                interval=bot.settings.edit_interval_s,
                max_messages=bot.settings.max_messages,
            )
            record.reply = reply
            status = "cancelled"
            if await reply.stream(generation, bot.stopping) and generation.result is not None:
                status, result = "ok", generation.result
                final = render(result)
                record.model, record.tokens = result.model, result.tokens
                record.output = result.text
            else:
                final = with_notes(neutralize(reply.text) or "…", [STOPPED_NOTE])
                record.output = reply.text
            if reply.first_piece_at is not None:
                record.first_token_s = reply.first_piece_at - record.started
            await generation.aclose()
            # The generation is over: free the user's slot before the final edit, so a user
            # who sees the finished reply can always start the next one at once.
            lease.release()
            await reply.finish(final)
        finally:
            await generation.aclose()
    finally:
        lease.release()
    bot.requests.finish(interaction, status)
