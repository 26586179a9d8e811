"""/name: new names in a style; given members, christen each of them (as text only)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.discord.context import CogHost, ServingContext
from bot.discord.formatting import mentioned_users
from bot.discord.produce import produce
from bot.discord.slash import ProductCog
from bot.generators.base import InvalidRequest
from bot.products import BUILTIN, by_command

PRODUCT = by_command(BUILTIN)["name"]
MAX_MEMBERS = 10
# /name's own option, after the kind's: Discord's "for", a Python keyword as a parameter
FOR = (
    "for_",
    app_commands.Range[str, 1, 1000],
    "Members to christen: mention them, e.g. @Ann @Bo (nobody is renamed)",
)


class Names(ProductCog):
    def __init__(self, bot: ServingContext) -> None:
        super().__init__(bot, PRODUCT, extra=[FOR], renamed={"for_": "for"})

    async def serve(
        self, interaction: discord.Interaction, text: str | None, values: dict[str, Any]
    ) -> None:
        for_ = values.pop("for_")
        members = mentioned_users(for_) if for_ else []
        if for_ is not None and not members:
            raise InvalidRequest("Mention the members to christen in `for`, e.g. @Ann @Bo.")
        if len(members) > MAX_MEMBERS:
            raise InvalidRequest(f"I can christen at most {MAX_MEMBERS} members at once.")
        if members:
            values["count"] = len(members)
        await produce(
            self.bot,
            interaction,
            PRODUCT,
            values,
            text=text,
            members=members,
            log={"members": members or None},
        )


async def setup(bot: CogHost) -> None:
    await bot.add_cog(Names(bot))
