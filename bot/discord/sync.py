"""``python -m bot sync [--guild ID]``: push the slash commands to Discord, then exit.

Syncing is explicit (not on every start): to one guild it is instant and meant for testing;
globally it can take a while to reach every client.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.config import ConfigError, Settings, config_failed, login_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sync", help="sync the slash commands with Discord")
    parser.add_argument("--guild", type=int, default=None, help="sync to this guild only")
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings, token = login_settings(args.config)
    except ConfigError as exc:
        return config_failed(exc)
    import discord

    from bot.discord.bot import apply_endpoint_overrides

    apply_endpoint_overrides(settings)
    try:
        names = asyncio.run(sync(settings, token, args.guild))
    except discord.LoginFailure:
        print("error: Discord rejected the token: check DISCORD_TOKEN", file=sys.stderr)
        return 1
    except discord.HTTPException as exc:
        print(f"error: sync failed: {exc}", file=sys.stderr)
        return 1
    where = f"guild {args.guild}" if args.guild else "all guilds (global)"
    print(f"synced {len(names)} command(s) to {where}: {', '.join(sorted(names))}")
    return 0


async def sync(settings: Settings, token: str, guild_id: int | None) -> list[str]:
    import discord

    from bot.discord.bot import create_bot

    bot = create_bot(settings, serving=False)
    async with bot:
        await bot.login(token)  # runs setup_hook, which loads the cogs' commands
        if guild_id is None:
            synced = await bot.tree.sync()
        else:
            guild = discord.Object(id=guild_id)
            bot.tree.copy_global_to(guild=guild)
            synced = await bot.tree.sync(guild=guild)
    return [command.name for command in synced]
