"""The bot as the rest of bot/discord sees it: small protocols that bot.py's bot implements.

The serving code (serving, produce, presses, slash, tree, metrics) and the cogs type their
``bot`` as one of these instead of importing :class:`bot.discord.bot.LSTMBotBase`, which
imports them: the imports of bot/discord then form no cycle (the layers and acyclic
contracts in pyproject.toml keep it so).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import asyncio

    import discord
    from discord import app_commands
    from discord.ext import commands

    from bot.config import Settings
    from bot.discord.limits import Limiter
    from bot.discord.requests import RequestTracker
    from bot.engine.engine import Engine
    from bot.storage import RequestLog


class ServingContext(Protocol):
    """What a command, a button press or the error handler reads of the bot."""

    settings: Settings
    engine: Engine | None  # None before setup_hook loads it, and in `python -m bot sync`
    request_log: RequestLog | None  # likewise
    requests: RequestTracker
    limiter: Limiter
    stopping: asyncio.Event  # set when in-flight generations must stop now

    @property
    def tree(self) -> app_commands.CommandTree[Any]: ...


class CogHost(ServingContext, Protocol):
    """The bot as a cog module's ``setup`` sees it: it also takes cogs and dynamic items."""

    async def add_cog(self, cog: commands.Cog, /) -> None: ...

    def add_dynamic_items(self, *items: type[discord.ui.DynamicItem[Any]]) -> None: ...


class GatewayContext(ServingContext, Protocol):
    """The bot as the metrics see it: also its gateway latency (AutoShardedClient also has
    ``latencies``, one per shard, read with getattr)."""

    @property
    def shard_id(self) -> int | None: ...

    @property
    def latency(self) -> float: ...
