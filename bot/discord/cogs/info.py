"""/models (the loaded models and their figures), /stats (the caller's own figures) and
/server-stats (one server's figures, for members who can manage it).

Statistics answer privately, after an ephemeral deferral, from the request log's read-only
connection. They are scoped so that nobody sees another server's users: /stats shows the
caller's own requests (in this server, or everywhere in a DM); /server-stats shows this
server only, is hidden from members without Manage Server (``default_permissions``) and
checks that permission itself too, since server admins can change who sees a command. Both
are under the per-user cooldown (their own window, so checking figures never blocks a
generation).
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.context import CogHost, ServingContext
from bot.discord.formatting import paginate
from bot.discord.limits import Limiter
from bot.discord.serving import everywhere
from bot.engine.kinds import Status
from bot.generators.base import InvalidRequest
from bot.storage import StorageError

Days = app_commands.Range[int, 1, 3650]
DAYS_HELP = "Only the last N days (default 7)"


def describe_models(bot: ServingContext) -> str:
    engine = bot.engine
    if engine is None:
        return "No models are loaded."
    lines = ["**Models**"]
    for name, bundle in sorted(engine.models.items()):
        m = bundle.meta
        arch, corpus, training = m.architecture, m.corpus, m.training
        unit = "char" if m.level == "char" else "word"
        lines.append(
            f"`{name}`: {unit}-level LSTM, {arch.layers}×{arch.hidden_size}, "
            f"{arch.parameters / 1e6:.2f}M parameters; trained on {corpus.name} "
            f"({corpus.bytes / 1e6:.1f} MB, {corpus.documents} documents) for "
            f"{training.epochs:g} epochs on {training.device}; held-out "
            f"{training.validation_bits_per_token:.3f} bits/{unit}; served in {bundle.precision}"
        )
    for name, why in sorted(engine.unavailable.items()):  # file names only, never server paths
        lines.append(f"`{name}`: not available ({why.splitlines()[0][:150]})")
    return "\n".join(lines)


class Info(commands.Cog):
    def __init__(self, bot: ServingContext) -> None:
        self.bot = bot
        settings = bot.settings
        self.cooldown = Limiter(
            rate=settings.cooldown_rate, per=settings.cooldown_per_s, guild_concurrency=0
        )

    @everywhere
    @app_commands.command(name="models", description="The language models behind this bot")
    async def models(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(paginate(describe_models(self.bot), max_pages=1)[0])
        self.bot.requests.finish(interaction, Status.OK)

    @everywhere
    @app_commands.command(name="stats", description="Your own use of this bot (only you see it)")
    @app_commands.describe(days=DAYS_HELP)
    async def stats(self, interaction: discord.Interaction, days: Days = 7) -> None:
        here = interaction.guild_id
        title = "Your requests in this server" if here is not None else "Your requests"
        await self._show(interaction, days, title, guild_id=here, user_id=interaction.user.id)

    @app_commands.command(
        name="server-stats", description="Use of this bot in this server (only you see it)"
    )
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(days=DAYS_HELP)
    async def server_stats(self, interaction: discord.Interaction, days: Days = 7) -> None:
        if interaction.guild_id is None:
            raise InvalidRequest("Use this command in a server.")
        await self._show(
            interaction, days, "Requests in this server", guild_id=interaction.guild_id
        )

    async def _show(
        self,
        interaction: discord.Interaction,
        days: int,
        title: str,
        *,
        guild_id: int | None,
        user_id: int | None = None,
    ) -> None:
        self.bot.requests.get(interaction).params = {"days": days}
        request_log = self.bot.request_log
        if request_log is None:
            raise StorageError("the request log is not open")
        self.cooldown.acquire(interaction.user.id, None).release()  # counts; refuses if due
        await interaction.response.defer(ephemeral=True, thinking=True)
        summary = await request_log.summary(days, guild_id=guild_id, user_id=user_id)
        text = summary.render(mention_users=True, title=title)
        if user_id is None and (request_log.lost or request_log.pending):
            text += f"\n-# {request_log.health()}"
        await interaction.followup.send(paginate(text, max_pages=1)[0], ephemeral=True)
        self.bot.requests.finish(interaction, Status.OK)


async def setup(bot: CogHost) -> None:
    await bot.add_cog(Info(bot))
