"""/story: a short fable grown from a few seed words."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import LSTMBotBase
from bot.discord.formatting import render_prose
from bot.discord.serving import everywhere, footnotes, serve
from bot.generators import PRODUCTS


class Story(commands.Cog):
    def __init__(self, bot: LSTMBotBase) -> None:
        self.bot = bot

    @everywhere
    @app_commands.command(name="story", description="Tell a short fable from a few words")
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
        engine = self.bot.engine
        await serve(
            self.bot,
            interaction,
            product="story",
            start=lambda: PRODUCTS["story"](
                engine, seed_words=seed_words, length=length, temperature=temperature, seed=seed
            ),
            render=lambda r: render_prose("A fable", r.text, footnotes(r)),
            params={"length": length, "temperature": temperature, "seed": seed},
            prompt=seed_words,
            echo=True,
        )


async def setup(bot: LSTMBotBase) -> None:
    await bot.add_cog(Story(bot))
