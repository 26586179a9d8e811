"""/story: a short fable grown from a few seed words."""

from __future__ import annotations

from bot.discord.context import CogHost, ServingContext
from bot.discord.slash import ProductCog
from bot.products import BUILTIN, by_command

PRODUCT = by_command(BUILTIN)["story"]


class Story(ProductCog):
    def __init__(self, bot: ServingContext) -> None:
        super().__init__(bot, PRODUCT)


async def setup(bot: CogHost) -> None:
    await bot.add_cog(Story(bot))
