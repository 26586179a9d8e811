"""/write (any loaded model), the operator's ``[[commands]]`` and the "Christen" user menu.

The operator's commands are built from the registry when the cog loads, like the built-in
ones (:mod:`bot.discord.slash`), so ``bot sync`` pushes them together. /write's options
map to the model's kind (``length`` is a names model's longest name, a poem's lines).
"""

# No ``from __future__ import annotations``: /write's option types are built at run time
# (ranges from the registry), and discord.py reads them from the annotations.

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.context import CogHost, ServingContext
from bot.discord.produce import WRITE, produce, products_of, write_product
from bot.discord.serving import everywhere
from bot.discord.slash import WRITE_LENGTH, product_command, ranged
from bot.engine.kinds import KindName
from bot.generators.base import UnknownModel
from bot.options import write_names
from bot.products import KINDS, SEED, TEMPERATURE, Product

CHRISTEN = "Christen"
NAME = "name"  # the product "Christen" runs


Temperature, Seed, Prompt = ranged(TEMPERATURE), ranged(SEED), ranged(KINDS[KindName.PROSE].text)
Length = ranged(WRITE_LENGTH)


def operator_command(bot: ServingContext, product: Product) -> app_commands.Command[Any, ..., None]:
    """The slash command of an operator's product, built like the built-in ones."""

    async def serve(
        interaction: discord.Interaction, text: str | None, values: dict[str, Any]
    ) -> None:
        await produce(bot, interaction, product, values, text=text)

    return product_command(product, serve)


class Write(commands.Cog):
    def __init__(self, bot: ServingContext) -> None:
        self.bot = bot
        self.operator_commands = [operator_command(bot, p) for p in bot.settings.commands]
        self.christen_menu = everywhere(
            app_commands.ContextMenu(name=CHRISTEN, callback=self.christen)
        )

    async def cog_load(self) -> None:
        for command in self.operator_commands:
            self.bot.tree.add_command(command)
        self.bot.tree.add_command(self.christen_menu)

    async def cog_unload(self) -> None:
        for command in self.operator_commands:
            self.bot.tree.remove_command(command.name)
        self.bot.tree.remove_command(CHRISTEN, type=discord.AppCommandType.user)

    @everywhere
    @app_commands.command(name=WRITE, description="Continue your text with any loaded model")
    @app_commands.describe(
        model="Which model (any loaded one; a names model gives a list of names)",
        prompt="The text to continue (names: the letters they start with)",
        length=WRITE_LENGTH.description,
        temperature=TEMPERATURE.description,
        seed=SEED.description,
    )
    async def write(
        self,
        interaction: discord.Interaction,
        model: str,
        # option types built at run time from the registry (to mypy, variables)
        prompt: Prompt,  # type: ignore[valid-type]
        length: Length | None = None,  # type: ignore[valid-type]
        temperature: Temperature | None = None,  # type: ignore[valid-type]
        seed: Seed | None = None,  # type: ignore[valid-type]
    ) -> None:
        product = write_product(self.bot, model)
        if product is None:
            loaded = ", ".join(sorted(self.bot.engine.models)) if self.bot.engine else ""
            raise UnknownModel(f"There is no model {model!r}; try one of: {loaded or 'none'}.")
        kind = product.spec
        options = {kind.length: length, "temperature": temperature, "seed": seed}
        called = {name: typed for typed, name in write_names(kind).items()}
        await produce(self.bot, interaction, product, options, text=prompt, called=called)

    @write.autocomplete("model")
    async def suggest_model(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        engine = self.bot.engine
        names = sorted(engine.models) if engine is not None else []
        typed = current.strip().casefold()
        return [app_commands.Choice(name=n, value=n) for n in names if typed in n.casefold()][:25]

    async def christen(self, interaction: discord.Interaction, member: discord.User) -> None:
        """A new name for ``member``, shown as a mention that pings nobody. Logged as a /name
        request for that member (so its buttons, and /forget-me, treat it as one)."""
        self.bot.requests.get(interaction).command = NAME
        await produce(
            self.bot,
            interaction,
            products_of(self.bot)[NAME],
            {"count": 1},
            text=None,
            members=[member.id],
            log={"members": [member.id]},
        )


async def setup(bot: CogHost) -> None:
    await bot.add_cog(Write(bot))
