"""docker-compose.yml, checked without Docker: a PostgreSQL service with a volume and a
health check, bot services from the Dockerfile whose shard ranges cover the shards once and
agree on the count, one request log for all, the image's health check and a stop period the
shutdown budget fits in. Each bot's environment is read by the bot's own settings loader."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bot.config import Settings, load_settings
from bot.discord.shutdown import ShutdownBudget

ROOT = Path(__file__).resolve().parents[1]
POSTGRES = "postgres"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _interpolated(value: object) -> str:
    """``${NAME:?message}`` and ``${NAME}`` as Compose fills them, with NAME set to
    ``x-NAME``."""
    return re.sub(r"\$\{(\w+)(?::?[?-][^}]*)?\}", lambda m: f"x-{m[1]}".lower(), str(value))


def _bots(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if name != POSTGRES}


def _settings(service: dict[str, Any]) -> Settings:
    env = {key: _interpolated(value) for key, value in service["environment"].items()}
    return load_settings(environ=env)  # every check the bot makes at start


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", duration)
    assert match, duration
    return int(match[1]) * (60 if match[2] == "m" else 1)


def test_postgres_service_has_a_volume_and_a_health_check(compose: dict[str, Any]) -> None:
    db = compose["services"][POSTGRES]
    assert db["image"].split(":")[0] == "postgres"  # the official image
    volume, _, path = db["volumes"][0].partition(":")
    assert volume in compose["volumes"] and path.startswith("/var/lib/postgresql")
    test = " ".join(db["healthcheck"]["test"])
    env = db["environment"]
    assert "pg_isready -h 127.0.0.1" in test  # TCP, as the bots connect: not the set-up server
    assert f"-U {env['POSTGRES_USER']}" in test and f"-d {env['POSTGRES_DB']}" in test


def test_shard_ranges_cover_every_shard_once(compose: dict[str, Any]) -> None:
    bots = [_settings(service) for service in _bots(compose).values()]
    assert len(bots) >= 2
    counts = {s.shard_count for s in bots}
    assert len(counts) == 1 and None not in counts, counts
    (count,) = counts
    ids = [i for s in bots for i in s.shard_ids or []]
    assert sorted(ids) == list(range(count or 0)), ids  # each shard in exactly one process


def test_every_bot_logs_to_the_postgres_service(compose: dict[str, Any]) -> None:
    db_env = compose["services"][POSTGRES]["environment"]
    urls = {s.db_url.reveal() for s in map(_settings, _bots(compose).values()) if s.db_url}
    assert len(urls) == 1, urls  # one log for the whole cluster, in every bot
    url = urlsplit(urls.pop())
    assert url.scheme == "postgresql" and url.hostname == POSTGRES
    assert url.username == db_env["POSTGRES_USER"] and url.path == f"/{db_env['POSTGRES_DB']}"
    assert url.password == _interpolated(db_env["POSTGRES_PASSWORD"])


def test_bots_run_the_image_after_postgres_is_healthy(compose: dict[str, Any]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    assert re.search(r"^HEALTHCHECK ", dockerfile, re.M)  # the bots' health check
    assert re.search(r'^RUN pip install "\.\[[^]]*postgres[^]]*\]"', dockerfile, re.M)
    for name, service in _bots(compose).items():
        assert service["build"] == ".", name
        assert service["depends_on"][POSTGRES]["condition"] == "service_healthy", name
        assert not service.get("healthcheck", {}).get("disable"), name
        grace = _settings(service).shutdown_grace_s
        budget = ShutdownBudget(grace_s=grace).total_s
        assert budget < _seconds(service["stop_grace_period"]), (name, budget)
