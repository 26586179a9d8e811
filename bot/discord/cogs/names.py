"""/name: new names in a style; given members, christen each of them (as text only)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import LSTMBotBase
from bot.discord.formatting import mentioned_users
from bot.discord.produce import produce
from bot.discord.serving import everywhere
from bot.generators.base import InvalidRequest
from bot.products import BUILTIN, by_command

PRODUCT = by_command(BUILTIN)["name"]
MAX_MEMBERS = 10


class Names(commands.Cog):
    def __init__(self, bot: LSTMBotBase) -> None:
        self.bot = bot

    @everywhere
    @app_commands.command(name=PRODUCT.command, description=PRODUCT.description)
    @app_commands.rename(for_="for")
    @app_commands.describe(
        style="Which kind of names",
        count="How many names (default 5)",
        starts_with="Letters the names start with",
        for_="Members to christen: mention them, e.g. @Ann @Bo (nobody is renamed)",
        temperature="Boldness, 0.1 (safe) to 2 (wild)",
        seed="Same seed and options give the same names",
    )
    @app_commands.choices(
        style=[app_commands.Choice(name=label, value=key) for key, label in PRODUCT.labels.items()]
    )
    async def name(
        self,
        interaction: discord.Interaction,
        style: str = "english",
        count: app_commands.Range[int, 1, 10] = 5,
        starts_with: app_commands.Range[str, 1, 10] | None = None,
        for_: app_commands.Range[str, 1, 1000] | None = None,
        temperature: app_commands.Range[float, 0.1, 2.0] | None = None,
        seed: app_commands.Range[int, 0, 2**53] | None = None,
    ) -> None:
        members = mentioned_users(for_) if for_ else []
        if for_ is not None and not members:
            raise InvalidRequest("Mention the members to christen in `for`, e.g. @Ann @Bo.")
        if len(members) > MAX_MEMBERS:
            raise InvalidRequest(f"I can christen at most {MAX_MEMBERS} members at once.")
        options = {
            "style": style,
            "count": len(members) or count,
            "temperature": temperature,
            "seed": seed,
        }
        await produce(
            self.bot,
            interaction,
            PRODUCT,
            options,
            text=starts_with,
            members=members,
            log={"members": members or None},
        )


async def setup(bot: LSTMBotBase) -> None:
    await bot.add_cog(Names(bot))
