"""/lovecraft: continue a prompt in the manner of H. P. Lovecraft."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import LSTMBotBase
from bot.discord.produce import produce
from bot.discord.serving import everywhere
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


class Lovecraft(commands.Cog):
    def __init__(self, bot: LSTMBotBase) -> None:
        self.bot = bot

    @everywhere
    @app_commands.command(name=PRODUCT.command, description=PRODUCT.description)
    @app_commands.describe(
        prompt="The beginning to continue",
        length="Characters to write (default 400)",
        temperature="Boldness, 0.1 (safe) to 2 (wild)",
        seed="Same seed and options give the same text",
    )
    async def lovecraft(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 1000],
        length: app_commands.Range[int, 20, 2000] = 400,
        temperature: app_commands.Range[float, 0.1, 2.0] | None = None,
        seed: app_commands.Range[int, 0, 2**53] | None = None,
    ) -> None:
        options = {"length": length, "temperature": temperature, "seed": seed}
        await produce(self.bot, interaction, PRODUCT, options, text=prompt)

    @lovecraft.autocomplete("prompt")
    async def suggest_opening(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        typed = current.strip()
        matches = [o for o in OPENINGS if typed.casefold() in o.casefold()]
        if typed and typed not in matches:
            matches.insert(0, typed[:100])
        return [app_commands.Choice(name=m[:100], value=m[:100]) for m in matches[:25]]


async def setup(bot: LSTMBotBase) -> None:
    await bot.add_cog(Lovecraft(bot))
