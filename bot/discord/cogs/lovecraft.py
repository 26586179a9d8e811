"""/lovecraft: continue a prompt in the manner of H. P. Lovecraft."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.discord.context import CogHost, ServingContext
from bot.discord.slash import TEXT, ProductCog
from bot.products import BUILTIN, by_command

PRODUCT = by_command(BUILTIN)["lovecraft"]

OPENINGS = (
    "The oldest and strongest emotion of mankind is fear",
    "In the hills beyond Arkham",
    "The house on the hill had been empty for years",
    "I have never been able to forget the sound",
    "The thing in the cellar",
    "When the last ship left Innsmouth",
    "Of the dreams which came to me",
    "The stars were wrong that night",
)


async def suggest_opening(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """What the user typed first, then the openings that contain it."""
    typed = current.strip()
    matches = [o for o in OPENINGS if typed.casefold() in o.casefold()]
    if typed and typed not in matches:
        matches.insert(0, typed[:100])
    return [app_commands.Choice(name=m[:100], value=m[:100]) for m in matches[:25]]


class Lovecraft(ProductCog):
    def __init__(self, bot: ServingContext) -> None:
        super().__init__(bot, PRODUCT)
        self.slash_command.autocomplete(TEXT)(suggest_opening)


async def setup(bot: CogHost) -> None:
    await bot.add_cog(Lovecraft(bot))
