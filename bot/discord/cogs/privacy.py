"""/forget-me: delete what the request log holds about the caller, after a confirmation.

The command answers privately with two buttons. "Delete my data" deletes the caller's rows
(written or still queued, this request's own row included) and takes their id out of other
people's ``/name for:`` rows; "Cancel" deletes nothing. The buttons are
:class:`ForgetButton` ``DynamicItem``s: their ``custom_id`` carries the user asked and when,
so a press works after a restart too; it is checked against the presser, and a press after
``CONFIRM_TIMEOUT_S`` deletes nothing and says so.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.buttons import parse_snowflake
from bot.discord.context import CogHost, ServingContext
from bot.discord.serving import everywhere
from bot.engine.kinds import Status
from bot.storage import StorageError

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT_S = 120.0
QUESTION = (
    "Delete everything this bot has logged about you? That is every request of yours "
    "(prompts, outputs, server and channel ids, timings), and your id in other people's "
    "`/name for:` requests. This cannot be undone.\n"
    "Your replies stay up where they were posted: delete them first with their Delete "
    "button (afterwards it still deletes the message it is on, but not the other parts "
    "of a reply split over several messages)."
)
CANCELLED = "Nothing was deleted."
TIMED_OUT = "This question has expired: nothing was deleted. Run /forget-me again."
NOT_YOURS = "This question was asked for someone else; nothing was deleted."
UNAVAILABLE = "The request log is unavailable right now; nothing was deleted. Try again later."
TEMPLATE = r"lstm-forget:(?P<choice>yes|no):(?P<user>[0-9]+):(?P<asked>[0-9]+)"
CHOICES: dict[str, tuple[str, discord.ButtonStyle]] = {
    "yes": ("Delete my data", discord.ButtonStyle.danger),
    "no": ("Cancel", discord.ButtonStyle.secondary),
}


def done_text(deleted: int, scrubbed: int) -> str:
    return (
        f"Done: {deleted} request(s) of yours deleted, and your id removed from "
        f"{scrubbed} request(s) by others."
    )


class ForgetButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    """One answer to the question asked of ``user_id`` at ``asked`` (Unix seconds)."""

    def __init__(self, choice: str, user_id: int | str, asked: int | str) -> None:
        label, style = CHOICES[choice]
        custom_id = f"lstm-forget:{choice}:{user_id}:{asked}"
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=custom_id))
        self.choice = choice
        self.user_id = parse_snowflake(str(user_id))
        self.asked = int(asked)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> ForgetButton:
        return cls(match["choice"], match["user"], match["asked"])

    async def callback(self, interaction: discord.Interaction) -> None:
        if interaction.user.id != self.user_id:
            await interaction.response.send_message(NOT_YOURS, ephemeral=True)
        elif not 0 <= time.time() - self.asked <= CONFIRM_TIMEOUT_S:
            await interaction.response.edit_message(content=TIMED_OUT, view=None)
        elif self.choice == "no":
            await interaction.response.edit_message(content=CANCELLED, view=None)
        else:
            bot = interaction.client  # the bot: a ServingContext, typed as discord.Client
            await self._forget(bot, interaction)  # type: ignore[arg-type]

    async def _forget(self, bot: ServingContext, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(content="Deleting…", view=None)
        request_log = bot.request_log
        try:
            if request_log is None or self.user_id is None:
                raise StorageError("the request log is not open")
            forgotten = await request_log.forget(self.user_id)
        except Exception:
            log.exception("/forget-me failed for user %s", self.user_id)
            await interaction.edit_original_response(content=UNAVAILABLE)
            return
        await interaction.edit_original_response(
            content=done_text(forgotten.deleted, forgotten.scrubbed)
        )


def question_view(user_id: int, asked: int) -> discord.ui.View:
    """The question's buttons; not kept in memory (presses are matched by the template)."""
    view = discord.ui.View(timeout=None)
    for choice in CHOICES:
        view.add_item(ForgetButton(choice, user_id, asked))
    view.stop()
    return view


class Privacy(commands.Cog):
    def __init__(self, bot: ServingContext) -> None:
        self.bot = bot

    @everywhere
    @app_commands.command(
        name="forget-me", description="Delete everything this bot has logged about you"
    )
    async def forget_me(self, interaction: discord.Interaction) -> None:
        if self.bot.request_log is None:
            raise StorageError("the request log is not open")
        view = question_view(interaction.user.id, int(time.time()))
        await interaction.response.send_message(QUESTION, view=view, ephemeral=True)
        # Logged now, so that a confirmed deletion removes this request's row as well.
        self.bot.requests.finish(interaction, Status.OK)


async def setup(bot: CogHost) -> None:
    await bot.add_cog(Privacy(bot))
    bot.add_dynamic_items(ForgetButton)  # the questions' buttons, also those from before a restart
