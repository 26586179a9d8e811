"""The discord.py bot: opens the engine and the request log, loads one cog per product.

:func:`create_bot` picks :class:`LSTMBot` (one connection, optionally one shard of many) or
:class:`ShardedLSTMBot` (several shards in this process) from the settings. ``close()``
shuts down gracefully within a :class:`~bot.discord.shutdown.ShutdownBudget`: no new
commands, in-flight generations get ``shutdown_grace_s`` to finish and are then stopped with
a note, requests still open after that are logged as cancelled, then the gateway and HTTP
session, the engine and the request log are closed, in that order. A close before the bot
is ready ends its start: logging in is cancelled, a ``setup_hook`` under way (models, the
request log) is waited for, shards not yet connected are not connected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import discord
import discord.gateway
import discord.http
import yarl
from discord.ext import commands

from bot.config import Settings
from bot.discord.limits import Limiter
from bot.discord.requests import RequestTracker
from bot.discord.shutdown import ShutdownBudget, ShutdownOverrun
from bot.discord.tree import BotTree

if TYPE_CHECKING:
    from bot.discord.context import CogHost
    from bot.discord.metrics import MetricsServer
    from bot.engine.engine import Engine
    from bot.storage import RequestLog

    _Base = commands.Bot
else:
    _Base = object

log = logging.getLogger(__name__)

COGS = (
    "bot.discord.cogs.lovecraft",
    "bot.discord.cogs.poem",
    "bot.discord.cogs.names",
    "bot.discord.cogs.story",
    "bot.discord.cogs.info",
    "bot.discord.cogs.write",
    "bot.discord.cogs.privacy",
)


class StartupError(RuntimeError):
    """The bot cannot start (no model could be loaded, ...); the message says why."""


def apply_endpoint_overrides(settings: Settings) -> None:
    """Point discord.py at another REST base / gateway (tests, proxies). Process-wide."""
    if settings.api_base_url:
        discord.http.Route.BASE = settings.api_base_url.rstrip("/")
    if settings.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


async def unless_closed(stage: asyncio.Future[None]) -> None:
    """Await a stage of start() that ``close()`` may cancel: its cancellation ends it
    quietly; the cancellation of the task awaiting it is still raised."""
    try:
        await stage
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if not stage.cancelled() or (current is not None and current.cancelling()):
            raise


class LSTMBotBase(_Base):
    """What both bot classes share; mixed in before commands.Bot / AutoShardedBot."""

    def __init__(self, settings: Settings, *, serving: bool = True, **options: Any) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,  # no prefix commands: slash only
            help_command=None,
            intents=discord.Intents(guilds=True),  # interactions need no more
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=BotTree,
            max_messages=None,
            **options,
        )
        self.settings = settings
        self.serving = serving
        self.engine: Engine | None = None
        self.request_log: RequestLog | None = None
        self.requests = RequestTracker()
        self.limiter = Limiter(
            rate=settings.cooldown_rate,
            per=settings.cooldown_per_s,
            guild_concurrency=settings.guild_concurrency,
        )
        self.stopping = asyncio.Event()  # set when in-flight generations must stop now
        self.shutdown_budget = ShutdownBudget(grace_s=settings.shutdown_grace_s)
        self._heartbeat: asyncio.Task[None] | None = None
        self.metrics_server: MetricsServer | None = None  # with metrics_port set
        self._shutdown: asyncio.Future[None] | None = None
        # The stages of start() a close() that comes first must stop or wait for.
        self._logging_in: asyncio.Future[None] | None = None
        self._setup: asyncio.Future[None] | None = None
        self._connecting: asyncio.Future[None] | None = None  # ShardedLSTMBot's shard launches

    async def login(self, token: str) -> None:
        """discord.py's, as a task that ``close()`` cancels while it still waits on
        Discord (not once ``setup_hook`` began: close waits for that)."""
        self._logging_in = logging_in = asyncio.ensure_future(super().login(token))
        await unless_closed(logging_in)

    async def connect(self, *, reconnect: bool = True) -> None:
        if self._shutdown is None:  # closed while starting: not connected at all
            await super().connect(reconnect=reconnect)

    async def setup_hook(self) -> None:
        self._setup = asyncio.ensure_future(self._set_up())
        await self._setup

    async def _set_up(self) -> None:
        from bot.discord.presses import ReplyButton

        for extension in COGS:
            await self.load_extension(extension)
        self.add_dynamic_items(ReplyButton)  # replies' buttons, also those sent before a restart
        if not self.serving:  # `python -m bot sync` only needs the command tree
            return
        self.engine = await asyncio.to_thread(self._load_engine)
        from bot.storage import RequestLog

        self.request_log = await RequestLog.open(
            self.settings.log_database,
            flush_interval=self.settings.log_flush_interval_s,
            store_text=self.settings.log_content == "full",
            retention_days=self.settings.retention_days,
            busy_timeout_ms=round(self.shutdown_budget.busy_timeout_s * 1000),
            close_attempts=self.shutdown_budget.log_tries,
        )
        self.requests.request_log = self.request_log
        if self.settings.heartbeat_file is not None:
            self._heartbeat = asyncio.create_task(self._beat(), name="heartbeat")
        if self.settings.metrics_port is not None:
            await self._serve_metrics(self.settings.metrics_host, self.settings.metrics_port)

    async def _serve_metrics(self, host: str, port: int) -> None:
        """Serve this bot's Prometheus metrics (``bot.discord.metrics``, imported only here:
        prometheus-client is an optional extra)."""
        from bot.discord.metrics import BotMetrics, MetricsServer

        metrics = BotMetrics(self)
        server = MetricsServer(metrics)
        try:
            await server.start(host, port)
        except OSError as exc:
            raise StartupError(
                f"cannot serve metrics on {host}:{port} (BOT_METRICS_HOST/BOT_METRICS_PORT): {exc}"
            ) from None
        self.metrics_server = server
        self.requests.on_row = metrics.observe

    def _load_engine(self) -> Engine:
        """The engine of the settings (:func:`bot.startup.open_engine`, as the console and
        ``generate`` load it); ConfigError if an operator command cannot be served."""
        from bot.engine.bundle import ModelLoadError
        from bot.startup import open_engine

        s = self.settings
        try:
            engine = open_engine(s)
        except ModelLoadError as exc:
            raise StartupError(str(exc)) from None
        for name, error in engine.load_errors.items():
            log.error("model %s not loaded: %s", name, error)
        if not engine.models:
            raise StartupError(f"no model could be loaded from {s.models_dir} (BOT_MODELS_DIR)")
        log.info(
            "models loaded: %s",
            ", ".join(f"{n} ({b.precision})" for n, b in sorted(engine.models.items())),
        )
        return engine

    def gateway_connected(self) -> bool:
        if not self.is_ready() or self.is_closed():
            return False
        if isinstance(self, discord.AutoShardedClient):
            return bool(self.shards) and not any(s.is_closed() for s in self.shards.values())
        return self.ws is not None and self.ws.open

    async def _beat(self) -> None:
        """Touch the heartbeat file while the gateway is up; the container health check
        reads its age (a live process with a dead gateway is not healthy)."""
        path = self.settings.heartbeat_file
        assert path is not None
        while True:
            if self.gateway_connected():
                try:
                    path.write_text(f"{time.time():.0f}\n")
                except OSError as exc:
                    log.warning("cannot write heartbeat file %s: %s", path, exc)
            await asyncio.sleep(self.settings.heartbeat_interval_s)

    async def close(self) -> None:
        if self._shutdown is None:
            self._shutdown = asyncio.ensure_future(self._close_once())
        await asyncio.shield(self._shutdown)

    async def _close_once(self) -> None:
        budget = self.shutdown_budget
        self.requests.accepting = False
        if self._setup is not None and not self._setup.done():
            await asyncio.wait([self._setup])  # what it opens is closed below
        elif self._logging_in is not None:
            self._logging_in.cancel()
        while self._connecting is not None and not self._connecting.done():  # no more shards
            # again if asyncio.wait_for swallowed it (its connection attempt ended meanwhile)
            self._connecting.cancel()
            await asyncio.wait([self._connecting], timeout=0.1)
        if self.requests.in_flight:
            log.info("shutting down: waiting for %d request(s)", self.requests.in_flight)
            if not await self.requests.wait_idle(budget.grace_s):
                log.warning("stopping %d generation(s) still running", self.requests.in_flight)
                self.stopping.set()
                if not await self.requests.wait_idle(budget.stop_s):
                    await self._abandon_open_requests()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        await super().close()  # the HTTP session: no request of ours still needs it
        if self.engine is not None:
            await self.engine.aclose()
        if self.request_log is not None:
            await self.request_log.close()  # logs what was written and lost
        if self.metrics_server is not None:  # last: a final scrape sees the shutdown's rows
            await self.metrics_server.stop()

    async def _abandon_open_requests(self) -> None:
        """Log the rows of the requests whose replies could not be closed in time (Discord
        too slow), then cancel their tasks before the HTTP session closes under them."""
        budget = self.shutdown_budget
        overrun = ShutdownOverrun(f"reply not closed within {budget.stop_s:g} s of shutdown")
        log.warning(
            "%d request(s) could not close their replies in time: logged as cancelled",
            self.requests.in_flight,
        )
        tasks = self.requests.abandon(overrun)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=budget.close_s)


class LSTMBot(LSTMBotBase, commands.Bot):
    """One gateway connection (all guilds, or one shard given shard_id/shard_count)."""


class ShardedLSTMBot(LSTMBotBase, commands.AutoShardedBot):
    """Several shards in one process."""

    async def launch_shards(self) -> None:
        """discord.py's, as a task that ``close()`` cancels before it closes the HTTP
        session. discord.py connects the shards one by one, 5 s apart, and retries a failed
        one every 5 s without asking whether the bot was closed meanwhile: after a close it
        would go on until the exit deadline. Cancelled, it returns and ``connect()`` ends."""
        self._connecting = launching = asyncio.ensure_future(super().launch_shards())
        await unless_closed(launching)

    async def launch_shard(
        self, gateway: yarl.URL, shard_id: int, *, initial: bool = False
    ) -> None:
        if self._shutdown is None:  # no new shard, nor retry, once closing
            await super().launch_shard(gateway, shard_id, initial=initial)


if TYPE_CHECKING:  # mypy checks that both are what the cogs' setup() takes (and the metrics)
    _HOSTS: tuple[type[CogHost], ...] = (LSTMBot, ShardedLSTMBot)


def create_bot(settings: Settings, *, serving: bool = True) -> LSTMBotBase:
    if settings.shard_count is None:
        return LSTMBot(settings, serving=serving)
    ids = settings.shard_ids
    if ids is not None and len(ids) == 1:
        return LSTMBot(settings, serving=serving, shard_id=ids[0], shard_count=settings.shard_count)
    return ShardedLSTMBot(
        settings, serving=serving, shard_ids=ids, shard_count=settings.shard_count
    )
