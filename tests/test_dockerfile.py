"""The image's whole shutdown budget (grace, stopping replies, closing, the request log's
last writes: the exit deadline) fits in ``docker stop``'s default timeout (10 s), so in-flight
replies are closed or logged and the request log is flushed before Docker kills the bot."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from bot.discord.shutdown import ShutdownBudget

ROOT = Path(__file__).resolve().parents[1]
DOCKER_STOP_DEFAULT_S = 10.0  # `docker stop` / `docker compose stop` without -t


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in instructions:
        if word == "ENV":
            env.update(re.findall(r"(\w+)=(\S+)", rest))
    return env


def test_shutdown_grace_fits_in_dockers_default_stop_timeout() -> None:
    instructions = _instructions((ROOT / "Dockerfile").read_text("utf-8"))
    grace = float(_env(instructions)["BOT_SHUTDOWN_GRACE"])
    budget = ShutdownBudget(grace_s=grace)
    assert budget.total_s < DOCKER_STOP_DEFAULT_S, budget  # the exit deadline comes first
    assert grace > 0  # some grace: short replies still finish
    signals = [rest for word, rest in instructions if word == "STOPSIGNAL"]
    assert signals in ([], ["SIGTERM"])  # the signal `python -m bot run` handles gracefully


def test_a_longer_grace_is_documented_with_dockers_timeout() -> None:
    assert ShutdownBudget(grace_s=20).total_s < 30  # the documented pair fits, too
    overhead = ShutdownBudget(grace_s=0).total_s
    assert f"a shutdown takes at most the grace plus {overhead:g} s" in " ".join(
        (ROOT / "README.md").read_text("utf-8").split()
    )
    for doc in ("Dockerfile", "README.md"):
        text = (ROOT / doc).read_text("utf-8")
        assert "--stop-timeout 30 -e BOT_SHUTDOWN_GRACE=20" in text, doc
        assert "docker stop -t 30" in text, doc


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_image_installs_the_metrics_and_postgres_extras_and_no_torch() -> None:
    """``pip install ".[metrics,postgres]"``: metrics_port works in the image
    (prometheus-client is there), so does a postgresql:// db_url (asyncpg; the compose file
    uses one), and it stays a serving image (no torch from any extra it names).
    tests/test_no_torch_install.py installs the same into a fresh venv."""
    instructions = _instructions((ROOT / "Dockerfile").read_text("utf-8"))
    installs = [
        arg.strip("'\"")
        for word, rest in instructions
        if word == "RUN"
        for command in rest.split("&&")
        if command.split()[:2] == ["pip", "install"]
        for arg in command.split()[2:]
    ]
    assert len(installs) == 1, installs  # one pip install: the project itself
    target, _, extras = installs[0].partition("[")
    assert target == "."
    named = set(extras.rstrip("]").split(",")) - {""}
    assert named == {"metrics", "postgres"}, installs
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"][
        "optional-dependencies"
    ]
    assert _requirement_names(optional["metrics"]) == {"prometheus-client"}  # small, no torch
    assert _requirement_names(optional["postgres"]) == {"asyncpg"}
