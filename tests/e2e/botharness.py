"""Start the project's real bot (``bot.discord.bot.create_bot``, exactly what ``python -m bot
run`` runs) in this process or as a subprocess, pointed at a fake Discord."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakediscord import FakeDiscord

REPO_ROOT = Path(__file__).resolve().parents[2]

# Fast, permissive defaults for tests; each test overrides what it is about.
TEST_ENV: dict[str, str] = {
    "BOT_EDIT_INTERVAL": "0.3",
    "BOT_COOLDOWN_RATE": "0",
    "BOT_GUILD_CONCURRENCY": "0",
    "BOT_LOG_FLUSH_INTERVAL": "0.1",
    "BOT_SHUTDOWN_GRACE": "5",
    "BOT_LOG_LEVEL": "INFO",
}


def bot_env(
    fake: FakeDiscord, models_dir: Path, db_path: Path, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    return {
        **fake.env(),
        **TEST_ENV,
        "BOT_MODELS_DIR": str(models_dir),
        "BOT_DB_PATH": str(db_path),
        **(extra or {}),
    }


@dataclass
class RunningBot:
    bot: Any  # bot.discord.bot.LSTMBotBase
    settings: Any  # bot.config.Settings
    db_path: Path
    task: asyncio.Task[None]


async def _serve(bot: Any, token: str) -> None:
    async with bot:
        await bot.start(token)


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord,
    models_dir: Path,
    db_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    ready_timeout: float = 60.0,
    sync: bool = True,
) -> AsyncIterator[RunningBot]:
    """The real bot in this process: settings from an environment (as ``python -m bot run``
    reads them), discord.py pointed at ``fake`` through the bot's own override settings.
    With ``sync`` the command tree is synced first (the fake then knows every option's type
    and range, as Discord would)."""
    from bot.config import load_settings
    from bot.discord.bot import apply_endpoint_overrides, create_bot

    settings = load_settings(environ=bot_env(fake, models_dir, db_path, env))
    token = settings.require_token()
    with fake.patch_discord():  # restores discord.py's URLs afterwards
        apply_endpoint_overrides(settings)
        bot = create_bot(settings)
        task = asyncio.create_task(_serve(bot, token), name="bot")
        try:
            waiter = asyncio.create_task(fake.gateway.wait_ready(timeout=ready_timeout))
            done, _ = await asyncio.wait(
                {task, waiter}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if task in done:
                waiter.cancel()
                task.result()
                raise RuntimeError("the bot stopped before it connected")
            await waiter
            if sync:  # register the commands, so the driver types options like Discord
                await bot.tree.sync()
            yield RunningBot(bot=bot, settings=settings, db_path=db_path, task=task)
        finally:
            # No suppression: a bot that fails to shut down, or whose run ends in an error,
            # fails the test (after the test's own error, if any, which stays chained).
            await asyncio.wait_for(bot.close(), 60)
            await asyncio.wait_for(task, 15)


def read_rows(db_path: Path) -> list[dict[str, Any]]:
    """Every request-log row (read with plain sqlite3, as an operator would)."""
    if not db_path.exists():
        return []
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute("SELECT * FROM requests ORDER BY id")]
    finally:
        con.close()


@dataclass
class BotProcess:
    proc: asyncio.subprocess.Process
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")

    async def wait(self, timeout: float) -> int:
        return await asyncio.wait_for(self.proc.wait(), timeout)

    def signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)


@contextlib.asynccontextmanager
async def bot_subprocess(
    args: list[str],
    env: Mapping[str, str],
    log_path: Path,
) -> AsyncIterator[BotProcess]:
    """``python -m bot ARGS`` with ``env`` added to a clean environment; killed on exit."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DISCORD_"))}
    full_env.update(env)
    full_env["PYTHONUNBUFFERED"] = "1"
    full_env["PYTHONPATH"] = str(REPO_ROOT)
    with open(log_path, "wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            cwd=str(REPO_ROOT),
            env=full_env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            yield BotProcess(proc, log_path)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
