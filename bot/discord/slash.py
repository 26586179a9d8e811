"""Slash commands built from the registry, for the built-in products and the operator's alike.

A product's command takes its kind's free text, then the options the kind shows on Discord
(:attr:`bot.products.Kind.slash`), with the registry's ranges, defaults and descriptions,
so a product is declared once (``bot sync`` pushes exactly this). A cog may add options of
its own (``/name for``) and autocompletes.
"""

# No ``from __future__ import annotations``: the option types are built at run time (ranges
# from the registry), and discord.py reads them from the callback's signature.

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.produce import produce
from bot.discord.serving import everywhere
from bot.products import KINDS, Option, Product

if TYPE_CHECKING:
    from bot.discord.context import ServingContext

# serve(interaction, free text or None, {registry option name: value or None})
Serve = Callable[[discord.Interaction, str | None, dict[str, Any]], Awaitable[None]]
TEXT = "text"  # the callback's parameter for the free text, renamed to the kind's name


def ranged(option: Option) -> Any:
    """The Discord option type of a registry option, with its range."""
    if option.low is None or option.high is None:
        return option.type
    if option.type is str:
        return app_commands.Range[str, int(option.low), int(option.high)]
    return app_commands.Range[option.type, option.low, option.high]


def parameter(
    name: str, annotation: Any, required: bool = False, default: Any = None
) -> inspect.Parameter:
    """A callback parameter; an optional one defaults to ``default`` (the registry's, so the
    request's row logs the value used; None: the generator chooses)."""
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=annotation if required else annotation | None,
        default=inspect.Parameter.empty if required else default,
    )


def described(option: Option) -> str:
    """An option's description as Discord shows it: with its default, where it has one."""
    if option.default is None or option.type is bool:
        return option.description
    return f"{option.description} (default {option.default})"


# /write's length: up to the longest any kind takes (each kind checks its own range)
WRITE_LENGTH = Option(
    "length",
    int,
    "How much: characters (char models), words (word models), lines (poems)",
    low=1,
    high=max(int(k.option(k.length).high or 1) for k in KINDS.values()),
)


def product_command(
    product: Product,
    serve: Serve,
    extra: Sequence[tuple[str, Any, str]] = (),
    renamed: dict[str, str] | None = None,
) -> app_commands.Command[Any, ..., None]:
    """The slash command of ``product``; ``serve`` runs it. ``extra``: (parameter, type,
    description) of options of the cog's own, after the kind's; ``renamed``: parameter ->
    the option's name on Discord, where it is a Python keyword (``for``)."""
    kind = product.spec
    shown = [kind.option(name) for name in kind.slash]
    extras = {name for name, _, _ in extra}

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        text = values.pop(TEXT, None)
        await serve(interaction, text, values)

    # discord.py reads the options from the signature; functions declare no __signature__
    callback.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "interaction", inspect.Parameter.POSITIONAL_ONLY, annotation=discord.Interaction
            ),
            parameter(TEXT, ranged(kind.text), required=kind.needs_text),
            *(parameter(o.name, ranged(o), default=o.default) for o in shown),
            *(parameter(name, annotation) for name, annotation, _ in extra),
        ]
    )
    descriptions = {
        TEXT: described(kind.text),
        **{o.name: described(o) for o in shown},
        **{name: text for name, _, text in extra},
    }
    command_callback: Any = app_commands.rename(**{TEXT: kind.text.name, **(renamed or {})})(
        callback
    )
    command_callback = app_commands.describe(**descriptions)(command_callback)
    if product.labels and "style" in kind.slash and "style" not in extras:
        choices = [app_commands.Choice(name=v, value=k) for k, v in product.labels.items()]
        command_callback = app_commands.choices(style=choices)(command_callback)
    command: app_commands.Command[Any, ..., None] = app_commands.Command(
        name=product.command, description=product.description, callback=command_callback
    )
    return everywhere(command)


class ProductCog(commands.Cog):
    """A cog serving one product with the command :func:`product_command` builds."""

    def __init__(
        self,
        bot: "ServingContext",
        product: Product,
        extra: Sequence[tuple[str, Any, str]] = (),
        renamed: dict[str, str] | None = None,
    ) -> None:
        self.bot = bot
        self.product = product
        self.slash_command = product_command(product, self.serve, extra, renamed)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.slash_command)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.slash_command.name)

    async def serve(
        self, interaction: discord.Interaction, text: str | None, values: dict[str, Any]
    ) -> None:
        await produce(self.bot, interaction, self.product, values, text=text)
