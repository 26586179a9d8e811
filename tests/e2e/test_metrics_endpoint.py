"""The Prometheus endpoint (``metrics_port``): scraped during a small load run against the fake
Discord, its counters agree with the request log the bot wrote (rows per command and
status, refusals, tokens, latency observations, written and lost rows); it goes away with
the bot; without the optional package the setting is a config error, and the bot without
the setting never imports it."""

from __future__ import annotations

import asyncio
import math
import re
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import ConfigError, load_settings
from bot.discord.bot import StartupError
from tests.fakediscord import FakeDiscord

from .botharness import REPO_ROOT, read_rows, running_bot
from .loadgen import LoadPlan, build_world, default_commands, run_load

pytestmark = pytest.mark.timeout(180)

SUFFIX = {"counter": "_total", "info": "_info"}  # the family name in the README
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(port: int, *, readme: bool = False) -> Samples:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    if readme:
        check_readme(text)
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    """``name``'s samples by the value of ``label`` (each label value once)."""
    found: dict[str, float] = {}
    for (sample, labels), value in samples.items():
        if sample == name:
            key = dict(labels)[label]
            assert key not in found, (name, key)
            found[key] = value
    return found


async def test_scraped_counters_match_the_request_log(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    # one generation per user per 10 minutes: each user's second and third command is refused
    env = {"BOT_METRICS_PORT": "0", "BOT_COOLDOWN_RATE": "1", "BOT_COOLDOWN_PER": "600"}
    plan = LoadPlan(
        interactions=30,
        users=10,
        guilds=3,
        burst_size=10,
        burst_gap_s=0.3,
        settle_s=0.3,
        commands={**default_commands(), "models": lambda rng: {}},
        per_interaction_timeout_s=60,
        total_timeout_s=120,
    )
    people, guilds = build_world(fake, users=plan.users, guilds=plan.guilds)
    fake.heartbeat_interval_ms = 500  # the gateway latency is measured early
    async with running_bot(fake, tiny_models_dir, db_path, env=env) as running:
        bot = running.bot
        port = bot.metrics_server.port
        assert port and port != 0
        during: list[Samples] = []
        load = asyncio.create_task(run_load(fake, plan, people=people, guilds=guilds))
        while not load.done():
            during.append(await scrape(port))
            await asyncio.sleep(0.1)
        report = load.result()
        assert await bot.request_log.flush()
        final = await scrape(port, readme=True)
        request_log, engine = bot.request_log, bot.engine
    assert report.errors == [] and report.unanswered == [] and len(report.traces) == 30

    rows = read_rows(db_path)
    assert len(rows) == 30
    ok = [r for r in rows if r["status"] == "ok" and r["tokens"]]
    refused = [r for r in rows if r["status"] == "refused"]
    assert ok and refused and any(r["command"] == "models" for r in rows)
    # scraped all along the run, and the counters only grew
    totals = [sum(v for (n, _), v in s.items() if n == "bot_requests_total") for s in during]
    assert len(during) >= 2 and totals == sorted(totals), totals
    # requests by command and status are the log's rows
    logged = Counter((r["command"], r["status"]) for r in rows)
    scraped = {
        (dict(labels)["command"], dict(labels)["status"]): value
        for (name, labels), value in final.items()
        if name == "bot_requests_total"
    }
    assert scraped == logged
    assert by_label(final, "bot_refusals_total", "reason") == {"cooldown": len(refused)}
    # tokens per model, and the latency histograms: one observation per ok generation
    tokens = Counter()
    for r in ok:
        tokens[r["model"]] += r["tokens"]
    assert by_label(final, "bot_tokens_generated_total", "model") == tokens
    assert sum(tokens.values()) == sum(r["tokens"] or 0 for r in rows)
    per_model = Counter(r["model"] for r in ok)
    for histogram in ("bot_time_to_first_token_seconds", "bot_token_latency_seconds"):
        assert by_label(final, f"{histogram}_count", "model") == per_model
    first = by_label(final, "bot_time_to_first_token_seconds_sum", "model")
    for model in per_model:
        expected = sum(r["first_token_s"] for r in ok if r["model"] == model)
        assert math.isclose(first[model], expected, rel_tol=1e-6)
    # the log writer: written rows, nothing pending or lost
    assert final[("bot_log_rows_written_total", frozenset())] == len(rows)
    assert final[("bot_log_rows_lost_total", frozenset())] == request_log.lost == 0
    assert final[("bot_log_failed_writes_total", frozenset())] == request_log.failed_writes
    assert final[("bot_log_pending_rows", frozenset())] == 0
    assert final[("bot_requests_in_flight", frozenset())] == 0
    # the models, their precision and their batches
    info = {
        dict(labels)["model"]: dict(labels)["precision"]
        for (name, labels), _ in final.items()
        if name == "bot_model_info"
    }
    assert info == {name: b.precision for name, b in engine.models.items()}
    steps = by_label(final, "bot_model_steps_total", "model")
    sequence_steps = by_label(final, "bot_model_sequence_steps_total", "model")
    assert all(steps[m] > 0 and sequence_steps[m] >= steps[m] for m in per_model)
    assert by_label(final, "bot_model_queue_depth", "model") == dict.fromkeys(info, 0)
    latency = by_label(final, "bot_gateway_latency_seconds", "shard")
    assert list(latency) == ["0"] and 0 <= latency["0"] < 5
    # the endpoint stopped with the bot
    with pytest.raises(aiohttp.ClientConnectionError):
        await scrape(port)


async def test_a_port_in_use_stops_the_start(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {"BOT_METRICS_PORT": str(taken.getsockname()[1])}
        with pytest.raises(StartupError, match=r"cannot serve metrics on 127\.0\.0\.1:"):
            async with running_bot(fake, tiny_models_dir, db_path, env=env):
                pass


def readme_metrics() -> tuple[set[str], str]:
    """The metric names of the README's table, and the text after it (the alert rules)."""
    readme = (REPO_ROOT / "README.md").read_text("utf-8")
    table, after = readme.split("<!-- metrics table -->")[1].split("<!-- end of metrics table -->")
    return set(re.findall(r"^\| `(bot_\w+)` \|", table, re.M)), after.split("\n## ")[0]


def check_readme(text: str) -> None:
    """The README lists every scraped metric, no other, and its alerts use scraped names."""
    listed, alerts = readme_metrics()
    families = [f for f in text_string_to_metric_families(text) if not f.name.endswith("_created")]
    assert listed == {f.name + SUFFIX.get(f.type, "") for f in families}
    samples = {s.name for f in families for s in f.samples}
    used = set(re.findall(r"\b(bot_\w+)", alerts))
    assert {"bot_log_rows_lost_total", "bot_time_to_first_token_seconds_bucket"} <= used <= samples


def test_metrics_need_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails
    assert load_settings(environ={}).metrics_port is None
    with pytest.raises(ConfigError, match=r"BOT_METRICS_PORT \(metrics_port\): needs the prom"):
        load_settings(environ={"BOT_METRICS_PORT": "9100"})


def test_the_bot_without_metrics_never_imports_prometheus() -> None:
    code = (
        "import sys, bot.__main__, bot.discord.runner, bot.discord.bot, bot.discord.requests\n"
        "assert 'prometheus_client' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=60)


async def test_each_shard_has_its_gateway_latency(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    fake.heartbeat_interval_ms = 300
    env = {"BOT_METRICS_PORT": "0", "BOT_SHARD_COUNT": "2"}
    async with running_bot(fake, tiny_models_dir, db_path, env=env) as running:
        port = running.bot.metrics_server.port
        for _ in range(50):  # each shard's first heartbeat ack gives it a latency
            latency = by_label(await scrape(port), "bot_gateway_latency_seconds", "shard")
            if len(latency) == 2:
                break
            await asyncio.sleep(0.1)
    assert sorted(latency) == ["0", "1"]
