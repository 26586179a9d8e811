"""/poem: a poem in stanzas, with how much of it is new (word 4-grams not in the corpus)."""

from __future__ import annotations

from bot.discord.bot import LSTMBotBase
from bot.discord.slash import ProductCog
from bot.products import BUILTIN, by_command

PRODUCT = by_command(BUILTIN)["poem"]


class Poem(ProductCog):
    def __init__(self, bot: LSTMBotBase) -> None:
        super().__init__(bot, PRODUCT)


async def setup(bot: LSTMBotBase) -> None:
    await bot.add_cog(Poem(bot))
