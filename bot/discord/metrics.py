"""Prometheus metrics of one bot, served at ``/metrics`` on the bot's own event loop.

Imported only when ``metrics_port`` is set (``prometheus-client`` is an optional extra).
Each bot has its own :class:`~prometheus_client.CollectorRegistry`, so several bots can
run in one process (the tests do). What happens once per request (requests, refusals,
tokens, latencies) is counted as the request tracker logs its row
(:attr:`RequestTracker.on_row`), so the counters agree with the request log; everything
else (queues, batches, the log writer, the gateway, the models) is read from the bot's
live objects at scrape time by :class:`LiveCollector`, so the engine and the storage know
nothing of Prometheus.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from discord import app_commands
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from bot.discord.limits import CooldownActive, GuildBusy, Refused, ShuttingDown, UserBusy
from bot.discord.tree import RefusedCheck
from bot.engine.errors import Busy
from bot.storage import RequestRow

if TYPE_CHECKING:
    from bot.discord.context import GatewayContext

log = logging.getLogger(__name__)

REFUSED = ("refused", "busy")  # the statuses counted as refusals
REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (CooldownActive, "cooldown"),
    (UserBusy, "user_busy"),
    (GuildBusy, "guild_busy"),
    (ShuttingDown, "shutting_down"),
    (Busy, "model_busy"),
    (Refused, "other"),
    (app_commands.CheckFailure, "not_allowed"),
)
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


def refusal_reason(error: BaseException | None) -> str:
    """The ``reason`` label of a refused request's failure (``other`` when none is given,
    e.g. a button pressed after it expired)."""
    if isinstance(error, RefusedCheck):
        error = error.refusal
    return next((reason for kind, reason in REASONS if isinstance(error, kind)), "other")


class BotMetrics:
    """The registry of one bot: per-request counters and histograms, and the live gauges."""

    def __init__(self, bot: GatewayContext) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "bot_requests",
            "Requests logged, by command and status",
            ["command", "status"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "bot_refusals",
            "Requests turned away (status refused or busy), by reason",
            ["reason"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "bot_tokens_generated",
            "Tokens of the ok replies, by model",
            ["model"],
            registry=self.registry,
        )
        self.first_token = Histogram(
            "bot_time_to_first_token_seconds",
            "From the command to its first generated text, per ok reply",
            ["model"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=self.registry,
        )
        self.token_latency = Histogram(
            "bot_token_latency_seconds",
            "Mean seconds per token after the first text, per ok reply",
            ["model"],
            buckets=TOKEN_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(LiveCollector(bot))

    def observe(self, row: RequestRow, error: BaseException | None) -> None:
        """Count one logged request row (the tracker's ``on_row``)."""
        self.requests.labels(row.command, row.status).inc()
        if row.status in REFUSED:
            self.refusals.labels(refusal_reason(error)).inc()
        if row.status != "ok" or not row.model or not row.tokens:
            return
        self.tokens.labels(row.model).inc(row.tokens)
        if row.first_token_s is not None:
            self.first_token.labels(row.model).observe(row.first_token_s)
            if row.total_s is not None:
                after = max(row.total_s - row.first_token_s, 0.0)
                self.token_latency.labels(row.model).observe(after / row.tokens)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class LiveCollector(Collector):
    """Gauges and counters read from the bot's objects when Prometheus scrapes."""

    def __init__(self, bot: GatewayContext) -> None:
        self.bot = bot

    def collect(self) -> Iterator[Metric]:
        bot = self.bot
        yield GaugeMetricFamily(
            "bot_requests_in_flight", "Requests accepted and not yet logged", bot.requests.in_flight
        )
        yield from self._models()
        yield from self._request_log()
        latency = GaugeMetricFamily(
            "bot_gateway_latency_seconds", "Gateway heartbeat latency, by shard", labels=["shard"]
        )
        for shard, seconds in _latencies(bot):
            latency.add_metric([str(shard)], seconds)
        yield latency

    def _models(self) -> Iterator[Metric]:
        engine = self.bot.engine
        models = engine.models if engine is not None else {}
        running = engine.running() if engine is not None else {}
        info = InfoMetricFamily(
            "bot_model", "A loaded model and the precision it is served at", labels=["model"]
        )
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            "waiting": GaugeMetricFamily(
                "bot_model_queue_depth", "Requests waiting to join the batch", labels=["model"]
            ),
            "active": GaugeMetricFamily(
                "bot_model_active", "Requests in the batch or waiting", labels=["model"]
            ),
            "last_batch": GaugeMetricFamily(
                "bot_model_batch_size", "Sequences in the latest model call", labels=["model"]
            ),
            "steps": CounterMetricFamily(
                "bot_model_steps", "Model calls (priming and sampling)", labels=["model"]
            ),
            "sequence_steps": CounterMetricFamily(
                "bot_model_sequence_steps",
                "Sum of the model calls' batch sizes (divided by steps: the mean batch)",
                labels=["model"],
            ),
        }
        for name, bundle in sorted(models.items()):
            info.add_metric([name], {"precision": bundle.precision})
            scheduler = running.get(name)
            values = {
                "waiting": scheduler.waiting if scheduler else 0,
                "active": scheduler.load if scheduler else 0,
                "last_batch": scheduler.last_batch if scheduler else 0,
                "steps": scheduler.steps if scheduler else 0,
                "sequence_steps": scheduler.sequence_steps if scheduler else 0,
            }
            for key, family in families.items():
                family.add_metric([name], values[key])
        yield info
        yield from families.values()

    def _request_log(self) -> Iterator[Metric]:
        request_log = self.bot.request_log
        if request_log is None:
            return
        yield GaugeMetricFamily(
            "bot_log_pending_rows", "Request-log rows waiting to be written", request_log.pending
        )
        yield CounterMetricFamily(
            "bot_log_rows_written", "Request-log rows written", request_log.written
        )
        yield CounterMetricFamily(
            "bot_log_rows_lost",
            "Request-log rows that could not be stored (dropped)",
            request_log.lost,
        )
        yield CounterMetricFamily(
            "bot_log_failed_writes",
            "Request-log writes that failed (each is retried with back-off)",
            request_log.failed_writes,
        )


def _latencies(bot: GatewayContext) -> list[tuple[int, float]]:
    """(shard id, seconds) of each connected shard with a measured latency."""
    shards = getattr(bot, "latencies", None)  # AutoShardedClient
    if shards is None:
        shards = [(bot.shard_id or 0, bot.latency)]
    return [(shard, seconds) for shard, seconds in shards if math.isfinite(seconds)]


class MetricsServer:
    """``GET /metrics`` on an aiohttp server on the bot's event loop; stopped by
    :meth:`stop` (the bot's close)."""

    def __init__(self, metrics: BotMetrics) -> None:
        self.metrics = metrics
        self.host: str | None = None  # the bound address, once started
        self.port: int | None = None  # the bound port, once started (port 0: a free one)
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._serve)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.host, self.port = runner.addresses[0][:2]
        log.info("metrics at http://%s:%d/metrics", host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _serve(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )
