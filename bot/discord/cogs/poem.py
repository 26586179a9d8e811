"""/poem: a poem in stanzas, with how much of it is new (word 4-grams not in the corpus)."""

from __future__ import annotations

from bot.discord.context import CogHost, ServingContext
from bot.discord.slash import ProductCog
from bot.products import BUILTIN, by_command

PRODUCT = by_command(BUILTIN)["poem"]


class Poem(ProductCog):
    def __init__(self, bot: ServingContext) -> None:
        super().__init__(bot, PRODUCT)


async def setup(bot: CogHost) -> None:
    await bot.add_cog(Poem(bot))
