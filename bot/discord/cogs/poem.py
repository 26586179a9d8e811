"""/poem: a poem in stanzas, with how much of it is new (word 4-grams not in the corpus)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import LSTMBotBase
from bot.discord.formatting import render_poem
from bot.discord.serving import everywhere, footnotes, serve
from bot.generators import PRODUCTS


class Poem(commands.Cog):
    def __init__(self, bot: LSTMBotBase) -> None:
        self.bot = bot

    @everywhere
    @app_commands.command(name="poem", description="Write a poem, optionally from a first line")
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
        engine = self.bot.engine
        await serve(
            self.bot,
            interaction,
            product="poem",
            start=lambda: PRODUCTS["poem"](
                engine, first_line=first_line, temperature=temperature, seed=seed
            ),
            render=lambda r: render_poem(r.text, r.extras.get("originality"), footnotes(r)),
            params={"temperature": temperature, "seed": seed},
            prompt=first_line,
        )


async def setup(bot: LSTMBotBase) -> None:
    await bot.add_cog(Poem(bot))
