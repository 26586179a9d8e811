"""The README's walk-through on a tiny corpus: a folder of text, train, export, then /write,
an operator's command and the "Christen" menu on Discord (the fake one)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fakediscord import FakeDiscord
from tests.tiny_corpora import write_prose

from .botharness import read_rows, running_bot
from .checks import assert_answered_once, assert_discord_valid, make_world
from .helpers import SETTLE

pytestmark = pytest.mark.timeout(240)

OPERATOR_COMMAND = """
[[commands]]
name = "bard"
model = "mytales"
kind = "prose"
title = "A tale from my folder"
description = "Continue a tale from my own stories"
"""


@pytest.fixture(scope="module")
def own_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of text, trained and exported as the model 'mytales' (seconds: toy size)."""
    from training.config import TrainConfig
    from training.export import export
    from training.train import train

    root = tmp_path_factory.mktemp("walkthrough")
    folder = write_prose(root / "corpora")
    config = TrainConfig(
        name="mytales",
        corpus_kind="prose",
        corpus_path=str(folder),
        validation_fraction=0.2,
        embedding_size=16,
        hidden_size=32,
        layers=1,
        batch_size=4,
        seq_len=16,
        eval_batch_size=2,
        warmup_steps=5,
        epochs=2.0,
        eval_every=50,
        out_dir=str(root / "runs"),
        threads=1,
        progress=False,
    )
    models = root / "models"
    export(train(config), "mytales", models)
    return models


async def test_own_model_through_write_an_operator_command_and_christen(
    fake: FakeDiscord, own_model: Path, tiny_models_dir: Path, db_path: Path, tmp_path: Path
) -> None:
    for f in tiny_models_dir.glob("names.*"):  # "Christen" needs a names model
        (own_model / f.name).write_bytes(f.read_bytes())
    config = tmp_path / "bot.toml"
    config.write_text(OPERATOR_COMMAND)
    w = make_world(fake)
    async with running_bot(fake, own_model, db_path, env={"BOT_CONFIG": str(config)}):
        synced = {(c["name"], c.get("type", 1)) for c in fake.global_commands}
        assert {("write", 1), ("bard", 1), ("Christen", 2)} <= synced
        suggest = await fake.run_command(
            user=w.alice,
            guild=w.guild,
            name="write",
            interaction_type=4,
            raw_options=[{"name": "model", "type": 3, "value": "tal", "focused": True}],
        )
        await suggest.wait_for(lambda t: t.acknowledged, timeout=15)
        assert [c["value"] for c in suggest.callback_data["choices"]] == ["mytales"]

        write = await fake.complete_command(
            user=w.alice,
            guild=w.guild,
            name="write",
            options={"model": "mytales", "prompt": "The old house", "length": 40, "seed": 4},
            settle_s=SETTLE,
        )
        bard = await fake.complete_command(
            user=w.bob,
            guild=w.guild,
            name="bard",
            options={"prompt": "The old house", "length": 40, "seed": 4},
            settle_s=SETTLE,
        )
        missing = await fake.complete_command(
            user=w.bob,
            guild=w.guild,
            name="write",
            options={"model": "lovecraft", "prompt": "The old house"},
        )
        christen = await fake.complete_command(
            user=w.alice, guild=w.guild, name="Christen", target=w.carol, settle_s=SETTLE
        )
        # /write on a names model: messages name /write's options, not the kind's own
        too_long = await fake.complete_command(
            user=w.carol,
            guild=w.guild,
            name="write",
            options={"model": "names", "prompt": "ma", "length": 100},
        )
        sentence = await fake.complete_command(
            user=w.carol,
            guild=w.guild,
            name="write",
            options={"model": "names", "prompt": "The night was dark"},
        )
    for trace in (write, bard, christen):
        assert_answered_once(trace)
        assert_discord_valid(trace.events)  # the christening mentions carol, pinging nobody
    title, text = write.final_text.split("\n", 1)
    assert title == "**mytales**" and text.startswith("The old house")
    # the operator's command is the same model and kind: same seed, same text, its own title
    assert bard.final_text == write.final_text.replace(title, "**A tale from my folder**", 1)
    assert missing.ephemeral and "no model 'lovecraft'" in missing.final_text
    assert (
        too_long.ephemeral and too_long.final_text == "Length must be a whole number from 1 to 40."
    )
    assert sentence.ephemeral and sentence.final_text.startswith(
        "Prompt is the first letters of the names (at most 10, e.g. `ma`), not a sentence"
    )
    opening = rf"\*\*Christening\*\* \(English\)\n{w.carol.mention} shall henceforth be known"
    assert re.match(opening, christen.final_text), christen.final_text
    rows = [(r["command"], r["model"], r["status"]) for r in read_rows(db_path)]
    assert rows == [
        ("write", "mytales", "ok"),
        ("bard", "mytales", "ok"),
        ("write", None, "unavailable"),
        ("name", "names", "ok"),  # "Christen" runs /name for the member
        ("write", None, "invalid"),  # refused before the model ran
        ("write", None, "invalid"),
    ]
