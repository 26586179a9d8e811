"""The slash commands ``bot sync`` pushes are the registry's: every product (built-in and
operator, one of each kind) and /write, option by option (name, type, required, range,
description, default), from the payloads the command tree sends (``to_dict``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_settings
from bot.discord.bot import LSTMBotBase, create_bot
from bot.products import (
    BUILTIN,
    KINDS,
    MAX_OPERATOR_COMMANDS,
    SEED,
    SLASH_ONLY,
    TEMPERATURE,
    Option,
    Product,
)

OPTION_TYPES = {str: 3, int: 4, bool: 5, float: 10}  # Discord's option type numbers
# options a cog adds to its product's (registry) options
COG_OPTIONS = {"name": ["for"]}


async def loaded_bot(tmp_path: Path, toml: str) -> LSTMBotBase:
    config = tmp_path / "bot.toml"
    config.write_text(toml)
    bot = create_bot(load_settings(config, {}), serving=False)
    await bot.setup_hook()  # loads every cog, as `python -m bot sync` does before syncing
    return bot


@pytest.fixture
async def payloads(tmp_path: Path) -> AsyncIterator[tuple[dict[str, Any], tuple[Product, ...]]]:
    """The synced payload of every command, with one operator command of each kind."""
    toml = "".join(
        f'[[commands]]\nname = "my-{kind}"\nmodel = "m"\nkind = "{kind}"\n' for kind in KINDS
    )
    bot = await loaded_bot(tmp_path, toml)
    try:
        sent = {c.name: c.to_dict(bot.tree) for c in bot.tree.get_commands()}
        yield sent, (*BUILTIN, *bot.settings.commands)
    finally:
        await bot.close()


def expected(option: Option, name: str = "", required: bool = False) -> dict[str, Any]:
    """The payload fields a registry option should give."""
    out: dict[str, Any] = {
        "name": name or option.name,
        "type": OPTION_TYPES[option.type],
        "required": required,
    }
    if option.low is not None:
        low, high = (
            ("min_length", "max_length") if option.type is str else ("min_value", "max_value")
        )
        out |= {low: option.low, high: option.high}
    return out


def sent_fields(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k in {"name", "type", "required"} or "_" in k}


def check_option(
    payload: dict[str, Any], option: Option, name: str = "", required: bool = False
) -> None:
    assert sent_fields(payload) == expected(option, name, required), payload
    assert payload["description"].startswith(option.description)
    if option.default is not None and option.type is not bool:
        assert f"(default {option.default})" in payload["description"]


async def test_every_product_command_is_its_registry_entry(
    payloads: tuple[dict[str, Any], tuple[Product, ...]],
) -> None:
    sent, products = payloads
    assert {p.kind for p in products if not p.builtin} == set(KINDS)
    for product in products:
        kind = product.spec
        command = sent[product.command]
        assert command["description"] == product.description
        options = command["options"]
        names = [kind.text.name, *kind.slash, *COG_OPTIONS.get(product.command, [])]
        assert [o["name"] for o in options] == names, product.command
        check_option(options[0], kind.text, required=kind.needs_text)
        for payload, name in zip(options[1:], kind.slash, strict=False):
            check_option(payload, kind.option(name))
        style = next((o for o in options if o["name"] == "style"), None)
        if style is not None:  # the product's labels as choices (operators': any style)
            choices = {c["value"]: c["name"] for c in style.get("choices", [])}
            assert choices == dict(product.labels)


async def test_write_takes_the_registrys_ranges(
    payloads: tuple[dict[str, Any], tuple[Product, ...]],
) -> None:
    options = {o["name"]: o for o in payloads[0]["write"]["options"]}
    assert list(options) == ["model", "prompt", "length", "temperature", "seed"]
    assert options["model"]["required"] and options["model"]["autocomplete"]
    prompt = KINDS["prose"].text
    assert (options["prompt"]["min_length"], options["prompt"]["max_length"]) == (
        prompt.low,
        prompt.high,
    )
    longest = max(kind.option(kind.length).high or 0 for kind in KINDS.values())
    assert (options["length"]["min_value"], options["length"]["max_value"]) == (1, longest)
    check_option(options["temperature"], TEMPERATURE)
    check_option(options["seed"], SEED)


async def test_the_bots_own_commands_leave_room_for_91_operator_commands(tmp_path: Path) -> None:
    """The config check's count of the bot's own slash commands is the tree's, and the most
    operator commands it lets through fit Discord's 100 (discord.py's tree refuses more)."""
    bot = await loaded_bot(tmp_path, "")
    try:
        own = {c.name for c in bot.tree.get_commands() if c.to_dict(bot.tree)["type"] == 1}
    finally:
        await bot.close()
    assert own == {p.command for p in BUILTIN} | set(SLASH_ONLY)
    entry = '[[commands]]\nname = "c{}"\nmodel = "m"\nkind = "poem"\n'
    bot = await loaded_bot(tmp_path, "".join(entry.format(i) for i in range(MAX_OPERATOR_COMMANDS)))
    try:
        slash = [c for c in bot.tree.get_commands() if c.to_dict(bot.tree)["type"] == 1]
        assert len(slash) == 100
    finally:
        await bot.close()
