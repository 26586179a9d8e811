"""/story: a short fable grown from a few seed words."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import LSTMBotBase
from bot.discord.produce import produce
from bot.discord.serving import everywhere
from bot.products import BUILTIN, by_command

PRODUCT = by_command(BUILTIN)["story"]


class Story(commands.Cog):
    def __init__(self, bot: LSTMBotBase) -> None:
        self.bot = bot

    @everywhere
    @app_commands.command(name=PRODUCT.command, description=PRODUCT.description)
    @app_commands.describe(
        seed_words="How the fable begins, e.g. 'a fox and a crow'",
        length="Words to write (default 60)",
        temperature="Boldness, 0.1 (safe) to 2 (wild)",
        seed="Same seed and options give the same fable",
    )
    async def story(
        self,
        interaction: discord.Interaction,
        seed_words: app_commands.Range[str, 1, 200],
        length: app_commands.Range[int, 5, 500] = 60,
        temperature: app_commands.Range[float, 0.1, 2.0] | None = None,
        seed: app_commands.Range[int, 0, 2**53] | None = None,
    ) -> None:
        options = {"length": length, "temperature": temperature, "seed": seed}
        await produce(self.bot, interaction, PRODUCT, options, text=seed_words)


async def setup(bot: LSTMBotBase) -> None:
    await bot.add_cog(Story(bot))
