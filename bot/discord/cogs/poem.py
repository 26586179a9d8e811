"""/poem: a poem in stanzas, with how much of it is new (word 4-grams not in the corpus)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import LSTMBotBase
from bot.discord.produce import produce
from bot.discord.serving import everywhere
from bot.products import BUILTIN, by_command

PRODUCT = by_command(BUILTIN)["poem"]


class Poem(commands.Cog):
    def __init__(self, bot: LSTMBotBase) -> None:
        self.bot = bot

    @everywhere
    @app_commands.command(name=PRODUCT.command, description=PRODUCT.description)
    @app_commands.describe(
        first_line="The poem's first line (optional)",
        temperature="Boldness, 0.1 (safe) to 2 (wild)",
        seed="Same seed and options give the same poem",
    )
    async def poem(
        self,
        interaction: discord.Interaction,
        first_line: app_commands.Range[str, 1, 200] | None = None,
        temperature: app_commands.Range[float, 0.1, 2.0] | None = None,
        seed: app_commands.Range[int, 0, 2**53] | None = None,
    ) -> None:
        options = {"temperature": temperature, "seed": seed}
        await produce(self.bot, interaction, PRODUCT, options, text=first_line)


async def setup(bot: LSTMBotBase) -> None:
    await bot.add_cog(Poem(bot))
