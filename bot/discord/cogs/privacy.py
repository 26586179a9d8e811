"""/forget-me: delete what the request log holds about the caller, after a confirmation.

The command answers privately with two buttons. "Delete my data" deletes the caller's rows
(written or still queued, this request's own row included) and takes their id out of other
people's ``/name for:`` rows; "Cancel", or no answer within the timeout, deletes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import LSTMBotBase
from bot.discord.serving import everywhere
from bot.storage import StorageError

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT_S = 120.0
QUESTION = (
    "Delete everything this bot has logged about you? That is every request of yours "
    "(prompts, outputs, server and channel ids, timings), and your id in other people's "
    "`/name for:` requests. This cannot be undone."
)
CANCELLED = "Nothing was deleted."
TIMED_OUT = "No answer: nothing was deleted."
UNAVAILABLE = "The request log is unavailable right now; nothing was deleted. Try again later."


def done_text(deleted: int, scrubbed: int) -> str:
    return (
        f"Done: {deleted} request(s) of yours deleted, and your id removed from "
        f"{scrubbed} request(s) by others."
    )


class ConfirmForget(discord.ui.View):
    """The confirmation buttons; only the user who asked can press them."""

    def __init__(self, bot: LSTMBotBase, origin: discord.Interaction) -> None:
        super().__init__(timeout=CONFIRM_TIMEOUT_S)
        self.bot = bot
        self.origin = origin
        self.user_id = origin.user.id

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return interaction.user.id == self.user_id

    @discord.ui.button(label="Delete my data", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        self.stop()
        await interaction.response.edit_message(content="Deleting…", view=None)
        request_log = self.bot.request_log
        try:
            if request_log is None:
                raise StorageError("the request log is not open")
            forgotten = await request_log.forget(self.user_id)
        except Exception:
            log.exception("/forget-me failed for user %s", self.user_id)
            await interaction.edit_original_response(content=UNAVAILABLE)
            return
        await interaction.edit_original_response(
            content=done_text(forgotten.deleted, forgotten.scrubbed)
        )

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        self.stop()
        await interaction.response.edit_message(content=CANCELLED, view=None)

    async def on_timeout(self) -> None:
        try:
            await self.origin.edit_original_response(content=TIMED_OUT, view=None)
        except discord.HTTPException as exc:
            log.info("could not close the /forget-me question of %s: %s", self.user_id, exc)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any], /
    ) -> None:
        log.error("/forget-me button failed for user %s", self.user_id, exc_info=error)


class Privacy(commands.Cog):
    def __init__(self, bot: LSTMBotBase) -> None:
        self.bot = bot

    @everywhere
    @app_commands.command(
        name="forget-me", description="Delete everything this bot has logged about you"
    )
    async def forget_me(self, interaction: discord.Interaction) -> None:
        if self.bot.request_log is None:
            raise StorageError("the request log is not open")
        view = ConfirmForget(self.bot, interaction)
        await interaction.response.send_message(QUESTION, view=view, ephemeral=True)
        # Logged now, so that a confirmed deletion removes this request's row as well.
        self.bot.requests.finish(interaction, "ok")


async def setup(bot: LSTMBotBase) -> None:
    await bot.add_cog(Privacy(bot))
