"""Imports point down: the import-linter contracts in pyproject.toml hold for the repository,
and they do catch a violation (so ``python -m pytest`` enforces them as CI's lint step does)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=where,
        env={**os.environ, "PYTHONPATH": str(where)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_repository_keeps_every_contract() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 kept, 0 broken" in done.stdout


def fake_repository(root: Path) -> None:
    """A copy of the packages' layout (empty modules, every layer of bot/discord too) under
    the repository's contracts."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["importlinter"]
    lines = ["[tool.importlinter]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in config.items() if key != "contracts"]
    modules = ["bot/generators/base.py", "training/train.py"]
    for entry in config["contracts"]:
        lines += ["[[tool.importlinter.contracts]]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in entry.items()]
        for container in entry.get("containers", []):
            for layer in entry["layers"]:
                for tail in layer.strip("()").replace(":", "|").split("|"):
                    modules.append(f"{container.replace('.', '/')}/{tail.strip()}.py")
    (root / "pyproject.toml").write_text("\n".join(lines) + "\n")
    for package in ("bot", "bot/engine", "bot/generators", "bot/discord", "training", "tests"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    for module in modules:
        (root / module).write_text("")


def broken(root: Path, contract: str) -> None:
    """``contract``, and only it, is broken in ``root``."""
    done = lint_imports(root)
    assert done.returncode != 0, done.stdout
    assert contract in done.stdout and "BROKEN" in done.stdout
    assert "1 broken" in done.stdout


LAYERS = "not to the bot class"  # bot/discord's layers contract
TYPE_HINT = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.discord.bot import X"


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        ("bot/engine/bad.py", "from bot.generators import base", "engine imports neither"),
        ("bot/engine/bad.py", "import discord", "engine imports neither"),
        ("bot/generators/bad.py", "import discord.ui", "generators do not import Discord"),
        ("training/bad.py", "import bot.generators.base", "Training imports neither"),
        ("bot/bad.py", "import training.train", "bot never imports training"),
        ("training/bad.py", "from tests import helpers", "never import the tests"),
        ("bot/discord/serving.py", "from bot.discord.bot import LSTMBotBase", LAYERS),
        ("bot/discord/tree.py", TYPE_HINT, LAYERS),  # a type hint's import counts too
        ("bot/discord/cogs.py", "from bot.discord import bot", LAYERS),
        ("bot/discord/buttons.py", "from bot.discord.presses import press", LAYERS),
        ("bot/discord/context.py", "import bot.discord.serving", LAYERS),
        ("bot/discord/new.py", "", "every child"),  # a new module must be placed in a layer
    ],
)
def test_the_contracts_catch_a_violation(
    tmp_path: Path, module: str, source: str, contract: str
) -> None:
    """A copy of the packages' layout with one bad import (or module), same contracts."""
    fake_repository(tmp_path)
    (tmp_path / module).write_text(source + "\n")
    broken(tmp_path, contract)


def test_a_cycle_within_a_layer_is_caught(tmp_path: Path) -> None:
    """Siblings of one layer may import each other, but not both ways round."""
    fake_repository(tmp_path)
    (tmp_path / "bot/discord/serving.py").write_text("from bot.discord import tree\n")
    done = lint_imports(tmp_path)
    assert done.returncode == 0, done.stdout  # one way round is fine
    (tmp_path / "bot/discord/tree.py").write_text("import bot.discord.serving\n")
    broken(tmp_path, "import each other in no cycle")
