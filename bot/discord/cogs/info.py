"""/models (the loaded models and their figures) and /stats (the request log, ephemeral)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import LSTMBotBase
from bot.discord.formatting import paginate
from bot.discord.serving import everywhere
from bot.storage import StorageError


def describe_models(bot: LSTMBotBase) -> str:
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
    def __init__(self, bot: LSTMBotBase) -> None:
        self.bot = bot

    @everywhere
    @app_commands.command(name="models", description="The language models behind this bot")
    async def models(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(paginate(describe_models(self.bot), max_pages=1)[0])
        self.bot.requests.finish(interaction, "ok")

    @everywhere
    @app_commands.command(name="stats", description="Usage of this bot (only you see it)")
    @app_commands.describe(days="Only the last N days (default 7)")
    async def stats(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 3650] = 7
    ) -> None:
        request_log = self.bot.request_log
        if request_log is None:
            raise StorageError("the request log is not open")
        self.bot.requests.get(interaction).params = {"days": days}
        text = (await request_log.summary(days)).render(mention_users=True)
        if request_log.lost or request_log.pending:
            text += f"\n-# {request_log.health()}"
        await interaction.response.send_message(paginate(text, max_pages=1)[0], ephemeral=True)
        self.bot.requests.finish(interaction, "ok")


async def setup(bot: LSTMBotBase) -> None:
    await bot.add_cog(Info(bot))
