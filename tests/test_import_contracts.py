"""Imports point down: the import-linter contracts in pyproject.toml hold for the repository,
and they do catch a violation (so ``python -m pytest`` enforces them as CI's lint step does)."""

from __future__ import annotations

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
    assert "5 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        ("bot/engine/bad.py", "from bot.generators import base", "engine imports neither"),
        ("bot/engine/bad.py", "import discord", "engine imports neither"),
        ("bot/generators/bad.py", "import discord.ui", "generators do not import Discord"),
        ("training/bad.py", "import bot.generators.base", "Training imports neither"),
        ("bot/bad.py", "import training.train", "bot never imports training"),
        ("training/bad.py", "from tests import helpers", "never import the tests"),
    ],
)
def test_the_contracts_catch_a_violation(
    tmp_path: Path, module: str, source: str, contract: str
) -> None:
    """A copy of the packages' layout with one bad import, under the same contracts."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["importlinter"]
    lines = [
        "[tool.importlinter]",
        f"root_packages = {config['root_packages']!r}",
        "include_external_packages = true",
    ]
    for entry in config["contracts"]:
        lines += ["[[tool.importlinter.contracts]]"]
        lines += [f"{key} = {value!r}" for key, value in entry.items()]
    (tmp_path / "pyproject.toml").write_text("\n".join(lines).replace("'", '"') + "\n")
    for package in ("bot", "bot/engine", "bot/generators", "bot/discord", "training", "tests"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "bot/generators/base.py").write_text("")
    (tmp_path / "training/train.py").write_text("")
    (tmp_path / module).write_text(source + "\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0, done.stdout
    assert contract in done.stdout and "BROKEN" in done.stdout
    assert "1 broken" in done.stdout
