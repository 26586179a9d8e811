"""/write (any loaded model), the operator's ``[[commands]]`` and the "Christen" user menu.

The operator's commands are built from the registry when the cog loads, so ``bot sync``
pushes them with the built-in ones. Their option ranges and defaults are the registry's.
"""

# No ``from __future__ import annotations``: the operator commands' option types are built
# at run time (ranges from the registry), and discord.py reads them from the annotations.

import inspect
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import LSTMBotBase
from bot.discord.produce import WRITE, produce, products_of, write_product
from bot.discord.serving import everywhere
from bot.generators.base import UnknownModel
from bot.products import KINDS, SEED, TEMPERATURE, Option, Product

CHRISTEN = "Christen"
NAME = "name"  # the product "Christen" runs


def _parameter(name: str, annotation: Any, required: bool = False) -> inspect.Parameter:
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=annotation if required else annotation | None,
        default=inspect.Parameter.empty if required else None,
    )


def _ranged(option: Option) -> Any:
    """The Discord option type of a registry option, with its range."""
    if option.type is str:
        return app_commands.Range[str, int(option.low or 1), int(option.high or 100)]
    return app_commands.Range[option.type, option.low, option.high]  # type: ignore[name-defined]


Temperature, Seed, Prompt = _ranged(TEMPERATURE), _ranged(SEED), _ranged(KINDS["prose"].text)
# /write's length: up to the longest any kind takes (each generator checks its own range)
Length = app_commands.Range[int, 1, max(int(k.option(k.length).high or 1) for k in KINDS.values())]


def operator_command(bot: LSTMBotBase, product: Product) -> app_commands.Command[Any, ..., None]:
    """A slash command for an operator's product: its free text, its length option (names:
    style and count), temperature and seed, with the registry's ranges and defaults."""
    kind = product.spec
    shown = [kind.option("style"), kind.option("count")] if kind.name == "names" else []
    shown = shown or [kind.option(kind.length)]

    async def callback(interaction: discord.Interaction, **options: Any) -> None:
        text = options.pop("text", None)
        await produce(bot, interaction, product, options, text=text)

    callback.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "interaction", inspect.Parameter.POSITIONAL_ONLY, annotation=discord.Interaction
            ),
            _parameter("text", _ranged(kind.text), required=kind.needs_text),
            *(_parameter(o.name, _ranged(o)) for o in shown),
            _parameter("temperature", Temperature),
            _parameter("seed", Seed),
        ]
    )
    described = {
        "text": kind.text.description,
        **{
            o.name: o.description + (f" (default {o.default})" if o.default is not None else "")
            for o in shown
        },
        "temperature": TEMPERATURE.description,
        "seed": SEED.description,
    }
    callback = app_commands.rename(text=kind.text.name)(callback)
    callback = app_commands.describe(**described)(callback)
    command = app_commands.Command(
        name=product.command, description=product.description, callback=callback
    )
    return everywhere(command)


class Write(commands.Cog):
    def __init__(self, bot: LSTMBotBase) -> None:
        self.bot = bot
        self.operator_commands = [operator_command(bot, p) for p in bot.settings.commands]
        self.christen_menu = everywhere(
            app_commands.ContextMenu(name=CHRISTEN, callback=self.christen)
        )

    async def cog_load(self) -> None:
        for command in (*self.operator_commands, self.christen_menu):
            self.bot.tree.add_command(command)

    async def cog_unload(self) -> None:
        for command in self.operator_commands:
            self.bot.tree.remove_command(command.name)
        self.bot.tree.remove_command(CHRISTEN, type=discord.AppCommandType.user)

    @everywhere
    @app_commands.command(name=WRITE, description="Continue your text with any loaded model")
    @app_commands.describe(
        model="Which model (any loaded one; a names model gives a list of names)",
        prompt="The text to continue (names: the letters they start with)",
        length="How much: characters (char models), words (word models), lines (poems)",
        temperature=TEMPERATURE.description,
        seed=SEED.description,
    )
    async def write(
        self,
        interaction: discord.Interaction,
        model: str,
        prompt: Prompt,  # type: ignore[valid-type]
        length: Length | None = None,  # type: ignore[valid-type]
        temperature: Temperature | None = None,  # type: ignore[valid-type]
        seed: Seed | None = None,  # type: ignore[valid-type]
    ) -> None:
        product = write_product(self.bot, model)
        if product is None:
            loaded = ", ".join(sorted(self.bot.engine.models)) if self.bot.engine else ""
            raise UnknownModel(f"There is no model {model!r}; try one of: {loaded or 'none'}.")
        options = {product.spec.length: length, "temperature": temperature, "seed": seed}
        await produce(self.bot, interaction, product, options, text=prompt)

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


async def setup(bot: LSTMBotBase) -> None:
    await bot.add_cog(Write(bot))
