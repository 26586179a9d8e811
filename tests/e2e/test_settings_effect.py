"""Every declared bot setting, given a value other than its default through its environment
variable or through the TOML file, takes effect where it is used: the real bot
(``create_bot``, as ``run`` builds it) runs one operator command against the fake Discord,
and each setting is checked on what the bot built or did (issue #24 §3).

A setting declared without a check here fails :func:`test_every_declared_setting_is_checked`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import discord.gateway
import discord.http
import pytest

from bot.config import Settings, load_settings
from bot.discord import serving
from bot.discord.bot import LSTMBotBase, apply_endpoint_overrides, create_bot
from bot.discord.runner import setup_logging
from bot.discord.streaming import StreamingReply
from bot.setting import declarations
from bot.storage.backend import sqlite_path
from tests.fakediscord import FakeDiscord
from tests.fakediscord.payloads import snowflake

from .botharness import read_rows

pytestmark = pytest.mark.timeout(120)

PROMPT = "qx the night"  # must not reach the request log (log_content = "metadata")


def non_defaults(fake: FakeDiscord, models: Path, tmp_path: Path) -> dict[str, Any]:
    """A TOML value other than the default for every setting."""
    return {
        "token": fake.token,
        "models_dir": str(models),
        "models": ["bard"],
        "precision": "fp32",
        "engine_threads": 2,
        "max_batch": 5,
        "max_queue": 7,
        "db_path": str(tmp_path / "log" / "requests.db"),
        "db_url": f"sqlite:///{tmp_path / 'url' / 'requests.db'}",  # wins over db_path
        "log_flush_interval_s": 0.1,
        "log_content": "metadata",
        "retention_days": 3.5,
        "edit_interval_s": 0.3,
        "max_messages": 2,
        "cooldown_rate": 2,
        "cooldown_per_s": 60.0,
        "guild_concurrency": 1,
        "shard_count": 2,
        "shard_ids": [1],
        "heartbeat_file": str(tmp_path / "heartbeat"),
        "heartbeat_interval_s": 1.0,
        "metrics_port": 0,  # any free port
        "metrics_host": "127.0.0.2",  # loopback too (127/8), but not the default
        "shutdown_grace_s": 4.0,
        "buttons_expire_s": 0.5,
        "commands": [{"name": "tales", "model": "bard", "kind": "prose"}],
        "log_level": "WARNING",
        "api_base_url": fake.base_url,
        "gateway_url": fake.gateway_url,
    }


def toml(values: dict[str, Any]) -> str:
    """``values`` as a TOML file (strings as JSON strings, which TOML reads the same)."""
    tables = values.get("commands", [])
    lines = [f"{key} = {json.dumps(value)}" for key, value in values.items() if key != "commands"]
    for table in tables:
        lines += ["[[commands]]", *(f"{k} = {json.dumps(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


def as_env(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


@dataclass
class Live:
    """What one run of the bot built and did, for the checks."""

    bot: LSTMBotBase
    settings: Settings
    fake: FakeDiscord
    replies: list[StreamingReply]
    trace: Any  # the /tales command's InteractionTrace
    pressed: Any  # Reroll pressed after buttons_expire_s
    endpoints: tuple[str, str]  # discord.py's REST base and gateway while the bot ran
    rows: list[dict[str, Any]] = field(default_factory=list)
    scraped: str = ""  # GET /metrics while the bot ran
    scraped_from: str | None = None  # the address it was served from


def _engine(live: Live, name: str) -> Any:
    assert live.bot.engine is not None
    return getattr(live.bot.engine, name)


def _bundle(live: Live) -> Any:
    return _engine(live, "models")["bard"]


def _scheduler(live: Live) -> Any:
    assert live.bot.engine is not None
    return live.bot.engine.scheduler("bard")


def _log(live: Live) -> Any:
    assert live.bot.request_log is not None
    return live.bot.request_log


def _identified(live: Live) -> list[Any]:
    events = live.fake.recorder.gateway_events
    return [d for (_, what, d) in events if what == "identify"]


def _logging_level(live: Live) -> bool:
    """``run`` sets the process log up with :func:`setup_logging`."""
    root, library = logging.getLogger(), logging.getLogger("discord")
    saved = (root.level, list(root.handlers), library.level)
    try:
        setup_logging(live.settings)
        return root.level == logging.WARNING
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        library.setLevel(saved[2])


# setting -> did the non-default value take effect where it is used?
CHECKS: dict[str, Callable[[Live], bool]] = {
    "token": lambda live: live.bot.http.token == live.fake.token and bool(_identified(live)),
    "models_dir": lambda live: "bard" in _engine(live, "models"),
    "models": lambda live: set(_engine(live, "models")) == {"bard"},  # lore is left out
    "precision": lambda live: _bundle(live).precision == "fp32",  # bard has an int8 copy
    "engine_threads": lambda live: (
        _bundle(live).session.get_session_options().intra_op_num_threads == 2
    ),
    "max_batch": lambda live: _scheduler(live).max_batch == 5,
    "max_queue": lambda live: _scheduler(live).max_queue == 7,
    "db_path": lambda live: not live.settings.db_path.exists(),  # db_url is set: unused
    "db_url": lambda live: [r["command"] for r in live.rows][:1] == ["tales"],
    "log_flush_interval_s": lambda live: _log(live).flush_interval == 0.1,
    "log_content": lambda live: not _log(live).store_text and live.rows[0]["prompt"] is None,
    "retention_days": lambda live: _log(live).retention_days == 3.5,
    "edit_interval_s": lambda live: [r.interval for r in live.replies] == [0.3],
    "max_messages": lambda live: [r.max_messages for r in live.replies] == [2],
    "cooldown_rate": lambda live: live.bot.limiter.rate == 2,
    "cooldown_per_s": lambda live: live.bot.limiter.per == 60.0,
    "guild_concurrency": lambda live: live.bot.limiter.guild_concurrency == 1,
    "shard_count": lambda live: [d["shard"] for d in _identified(live)] == [[1, 2]],
    "shard_ids": lambda live: live.bot.shard_id == 1,
    "heartbeat_file": lambda live: Path(live.settings.heartbeat_file or "").is_file(),
    "heartbeat_interval_s": lambda live: Path(live.settings.heartbeat_file or "").is_file(),
    "metrics_port": lambda live: "bot_requests_total{" in live.scraped,
    "metrics_host": lambda live: live.scraped_from == "127.0.0.2",
    "shutdown_grace_s": lambda live: live.bot.shutdown_budget.grace_s == 4.0,
    "buttons_expire_s": lambda live: any(
        "expired" in m.content for m in live.pressed.final_messages
    ),
    "commands": lambda live: live.trace.final_text.startswith("**tales**"),
    "log_level": _logging_level,
    "api_base_url": lambda live: live.endpoints[0] == live.fake.base_url,
    "gateway_url": lambda live: live.endpoints[1] == live.fake.gateway_url,
}


def test_every_declared_setting_is_checked() -> None:
    assert list(CHECKS) == [d.name for d in declarations(Settings)]


@contextlib.contextmanager
def endpoints_restored() -> Iterator[None]:
    """discord.py's REST base and gateway as they were, whatever the bot set."""
    base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    try:
        yield
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


def settings_from(source: str, values: dict[str, Any], config: Path) -> Settings:
    """The settings read with every value given through ``source``: each setting's
    environment variable (the TOML-only ``commands`` from the file), or the TOML file."""
    if source == "toml":
        config.write_text(toml(values))
        return load_settings(environ={"BOT_CONFIG": str(config)})
    config.write_text(toml({"commands": values["commands"]}))
    environ = {d.env: as_env(values[d.name]) for d in declarations(Settings) if d.env}
    return load_settings(environ={**environ, "BOT_CONFIG": str(config)})


async def until(ready: Callable[[], object], timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not ready() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)


async def scrape(bot: LSTMBotBase) -> tuple[str, str | None]:
    """The bot's metrics page and the address it listens on ("" and None: none served)."""
    server = bot.metrics_server
    if server is None:
        return "", None
    url = f"http://{server.host}:{server.port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return await response.text(), server.host


async def serve(bot: LSTMBotBase, token: str) -> None:
    async with bot:
        await bot.start(token)


@pytest.mark.parametrize("source", ["environment", "toml"])
async def test_every_setting_takes_effect(
    source: str,
    fake: FakeDiscord,
    bard_and_lore: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_from(
        source, non_defaults(fake, bard_and_lore, tmp_path), tmp_path / "bot.toml"
    )
    declared = declarations(Settings)
    assert [d.name for d in declared if getattr(settings, d.name) == d.default] == []
    replies: list[StreamingReply] = []

    class Recorded(StreamingReply):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            replies.append(self)

    monkeypatch.setattr(serving, "StreamingReply", Recorded)
    fake.shard_count = 2
    user = fake.add_user("alice")
    on_shard_1 = ((int(snowflake()) >> 22) | 1) << 22 | 7  # (id >> 22) % 2 == 1
    guild = fake.add_guild("Writers", members=[user], guild_id=str(on_shard_1))
    with endpoints_restored():
        apply_endpoint_overrides(settings)
        endpoints = (discord.http.Route.BASE, str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY))
        bot = create_bot(settings)
        task = asyncio.create_task(serve(bot, settings.require_token()), name="bot")
        try:
            await until(lambda: bot.is_ready() or task.done(), 60)
            assert bot.is_ready(), task
            await bot.tree.sync()  # the fake then types the options as Discord would
            trace = await fake.complete_command(
                user=user, guild=guild, name="tales", options={"prompt": PROMPT, "length": 30},
                settle_s=0.3,
            )  # fmt: skip
            await asyncio.sleep(settings.buttons_expire_s)
            pressed = await (await fake.click(trace, "Delete")).wait_final(settle_s=0.3)
            db = sqlite_path(str(settings.log_database))
            beat = Path(settings.heartbeat_file or "")
            await until(lambda: beat.is_file() and read_rows(db), 5)
            live = Live(bot, settings, fake, replies, trace, pressed, endpoints, read_rows(db))
            live.scraped, live.scraped_from = await scrape(bot)
            failed = [name for name, check in CHECKS.items() if not check(live)]
        finally:
            await asyncio.wait_for(bot.close(), 60)
            await asyncio.wait_for(task, 15)
    assert failed == [], f"no effect: {failed}; {trace.summary()}"
