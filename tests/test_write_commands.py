"""Operator commands and /write as Discord sees them (the synced schema), and the start-time
check that every operator command's model can serve it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.config import ConfigError, load_settings
from bot.discord.bot import create_bot
from training.random_model import export_random_model

COMMANDS = """
[[commands]]
name = "tales"
model = "bard"
kind = "prose"
description = "Tales from my folder"

[[commands]]
name = "elves"
model = "elfnames"
kind = "names"

[[commands]]
name = "sonnet"
model = "bard"
kind = "poem"

[[commands]]
name = "lore"
model = "lore"
kind = "story"
"""


def settings(tmp_path: Path, commands: str, models: Path | None = None) -> Any:
    config = tmp_path / "bot.toml"
    config.write_text(commands)
    return load_settings(config, {"BOT_MODELS_DIR": str(models or tmp_path)})


async def schema(tmp_path: Path) -> dict[str, dict[str, Any]]:
    bot = create_bot(settings(tmp_path, COMMANDS), serving=False)
    try:
        await bot.load_extension("bot.discord.cogs.write")
        return {c.name: c.to_dict(bot.tree) for c in bot.tree.get_commands()}
    finally:
        await bot.close()


def options(command: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in command["options"]}


async def test_operator_commands_take_their_kinds_options(tmp_path: Path) -> None:
    """Names, order and descriptions; the ranges are the registry's (test_slash_commands)."""
    commands = await schema(tmp_path)
    tales = commands["tales"]
    assert tales["description"] == "Tales from my folder"
    assert list(options(tales)) == ["prompt", "length", "temperature", "seed"]
    assert list(options(commands["elves"])) == [
        "starts_with",
        "style",
        "count",
        "temperature",
        "seed",
    ]
    assert list(options(commands["sonnet"])) == ["first_line", "lines", "temperature", "seed"]
    assert options(commands["lore"])["seed_words"]["required"]
    assert commands["elves"]["description"] == "Write with the elfnames model"
    write = options(commands["write"])
    assert write["model"]["autocomplete"] and write["model"]["required"]
    assert commands["Christen"]["type"] == 2
    for command in commands.values():  # every context, installable to guilds and users
        assert command["contexts"] == [0, 1, 2] and command["integration_types"] == [0, 1]


@pytest.mark.parametrize(
    ("commands", "message"),
    [
        (
            '[[commands]]\nname = "tales"\nmodel = "nosuch"\nkind = "prose"\n',
            "bot.toml: commands[0] (tales): model 'nosuch' is not loaded (loaded: bard, lore)",
        ),
        (
            '[[commands]]\nname = "tales"\nmodel = "lore"\nkind = "prose"\n',
            "bot.toml: commands[0] (tales): kind prose needs a char-level model",
        ),
        (
            '[[commands]]\nname = "elves"\nmodel = "bard"\nkind = "names"\n',
            "bot.toml: commands[0] (elves): kind names needs a model trained on a names corpus",
        ),
    ],
)
def test_an_operator_command_whose_model_cannot_serve_it_stops_the_start(
    tmp_path: Path, commands: str, message: str
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    export_random_model(models, "bard")
    export_random_model(models, "lore", level="word")
    bot = create_bot(settings(tmp_path, commands, models))
    with pytest.raises(ConfigError, match=re.escape(message)):
        bot._load_engine()
    good = '[[commands]]\nname = "tales"\nmodel = "bard"\nkind = "prose"\n'
    assert set(create_bot(settings(tmp_path, good, models))._load_engine().models) == {
        "bard",
        "lore",
    }
