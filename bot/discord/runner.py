"""``python -m bot run``: connect to Discord and serve until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from bot.config import ConfigError, Settings, config_failed, load_settings
from bot.setting import declarations

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run the Discord bot")
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")
    parser.add_argument(
        "--shard-ids",
        metavar="IDS",
        help="comma-separated shards this process runs, one process of a cluster "
        "(overrides BOT_SHARD_IDS / shard_ids)",
    )
    parser.add_argument(
        "--shard-count",
        metavar="N",
        help="the cluster's total shards (overrides BOT_SHARD_COUNT / shard_count)",
    )
    parser.set_defaults(func=run)


SHARD_FLAGS = {"shard_ids": "--shard-ids", "shard_count": "--shard-count"}  # setting: flag


def run_settings(args: argparse.Namespace) -> tuple[Settings, str]:
    """The settings and token of ``run``: defaults <- TOML <- environment <- the shard
    flags, each read as its environment variable would be (problems name the flag)."""
    declared = {d.name: d for d in declarations(Settings) if d.name in SHARD_FLAGS}
    given = {name: value for name in SHARD_FLAGS if (value := getattr(args, name)) is not None}
    environ = {**os.environ, **{str(declared[name].env): given[name] for name in given}}
    try:
        settings = load_settings(args.config, environ)
    except ConfigError as exc:
        text = str(exc)
        for name in given:
            text = text.replace(declared[name].called, SHARD_FLAGS[name])
        raise ConfigError(text) from None
    return settings, settings.require_token()


def run(args: argparse.Namespace) -> int:
    try:
        settings, token = run_settings(args)
    except ConfigError as exc:
        return config_failed(exc)
    import discord

    from bot.discord.bot import StartupError, apply_endpoint_overrides
    from bot.storage import StorageError

    setup_logging(settings)
    apply_endpoint_overrides(settings)
    try:
        asyncio.run(serve_forever(settings, token))
    except ConfigError as exc:  # an operator command its model cannot serve
        return config_failed(exc)
    except (StartupError, StorageError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    except discord.LoginFailure:
        log.error("Discord rejected the token: check DISCORD_TOKEN")
        return 1
    return 0


def setup_logging(settings: Settings) -> None:
    """The process log at ``log_level``, on stderr."""
    import discord

    level = logging.getLevelName(settings.log_level)
    discord.utils.setup_logging(level=level, root=True)
    if settings.log_content == "metadata":  # discord.py's DEBUG lines carry message payloads
        logging.getLogger("discord").setLevel(max(level, logging.INFO))


async def serve_forever(settings: Settings, token: str) -> None:
    """Run the bot; the first SIGINT/SIGTERM starts a graceful close."""
    from bot.discord.bot import create_bot

    bot = create_bot(settings)
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []  # keeps the close task referenced

    def on_signal(signum: signal.Signals) -> None:
        if closing:
            log.warning("%s again: still shutting down", signum.name)
            return
        budget = bot.shutdown_budget
        log.info(
            "%s received: finishing in-flight requests (%g s), closing within %g s",
            signum.name,
            budget.grace_s,
            budget.total_s,
        )
        closing.append(asyncio.create_task(bot.close()))
        # A close that hangs, or a thread left running, must not keep the process alive.
        arm_exit_deadline(budget.total_s)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    async with bot:
        await bot.start(token)
    # discord.py's __aexit__ waits only for its own close task, not for our override's
    # flush of the request log; close() is idempotent, so this waits for all of it.
    await bot.close()


def arm_exit_deadline(
    seconds: float, *, exit_now: Callable[[int], object] = os._exit
) -> threading.Timer:
    """The last resort of a shutdown: unless the process has exited ``seconds`` from now,
    log it and exit with status 1 (a daemon timer, so it never keeps the process alive)."""

    def expire() -> None:
        log.error("shutdown did not finish within %.0f s: exiting now", seconds)
        exit_now(1)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    return timer
