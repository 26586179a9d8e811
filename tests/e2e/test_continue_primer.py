"""Continue primes the model with the text it wrote, never with the generators' cut mark
("…", in no model's vocabulary), through the real bot and a fake Discord."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.fakediscord import FakeDiscord

from .botharness import read_rows, running_bot
from .checks import make_world
from .helpers import SETTLE, press, row_of

pytestmark = pytest.mark.timeout(120)

WRITTEN = "The door of the old house was open and the"  # as a reply cut at a word keeps it


async def test_continue_on_a_cut_reply_primes_without_the_mark(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path) as rb:
        first = await fake.complete_command(
            user=w.alice,
            guild=w.guild,
            name="lovecraft",
            options={"prompt": "The door", "length": 40, "seed": 5},
            settle_s=SETTLE,
        )
        assert await rb.bot.request_log.flush()
        with sqlite3.connect(db_path) as db:  # the row of a reply that ended with the mark
            db.execute(
                "UPDATE requests SET output = ? WHERE interaction_id = ?",
                (WRITTEN + "…", first.interaction_id),
            )
        more = await press(fake, first, "Continue")
        assert more.final_text.startswith(f"**In the manner of Lovecraft**\n{WRITTEN}")
        assert "vocabulary" not in more.final_text  # no "Not in the ... vocabulary: …" note
        assert await rb.bot.request_log.flush()
    continued = row_of(read_rows(db_path), more)
    assert continued["prompt"] == WRITTEN
    assert continued["output"].startswith(WRITTEN) and len(continued["output"]) > len(WRITTEN)
