"""``log_content = "metadata"``: nothing a user typed reaches the database or the process log,
whatever fails (issue #23 §2), through ``python -m bot run`` at DEBUG."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.fakediscord import FakeDiscord

from .botharness import bot_env, bot_subprocess, read_rows
from .checks import assert_answered_once, make_world
from .helpers import SETTLE, exit_code_or_stacks

pytestmark = pytest.mark.timeout(120)

# one sentinel per free-text option; each is refused or used with a message quoting it
PROMPT = "qxprompt"
MODEL = "qxmodel"
LETTERS = "q9z7"  # no english name starts with digits: the refusal quotes them
STYLE = "qxstyle"  # an operator names command takes its style as free text


def _on_disk(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())


async def test_metadata_mode_keeps_no_typed_text_in_the_log_or_the_database(
    fake: FakeDiscord, tiny_models_dir: Path, tmp_path: Path
) -> None:
    w = make_world(fake)
    db = tmp_path / "data" / "requests.db"
    config = tmp_path / "bot.toml"
    config.write_text('[[commands]]\nname = "tags"\nmodel = "names"\nkind = "names"\n')
    extra = {"BOT_LOG_CONTENT": "metadata", "BOT_LOG_LEVEL": "DEBUG", "BOT_CONFIG": str(config)}
    env = bot_env(fake, tiny_models_dir, db, extra)
    async with bot_subprocess(["run"], env, tmp_path / "run.log") as p:
        await fake.gateway.wait_ready(timeout=60)
        traces = [
            await fake.complete_command(
                user=w.alice, guild=w.guild, name="lovecraft",
                options={"prompt": PROMPT, "length": 20}, settle_s=SETTLE,
            ),
            await fake.complete_command(
                user=w.alice, guild=w.guild, name="write",
                options={"model": MODEL, "prompt": PROMPT}, settle_s=SETTLE,
            ),
            await fake.complete_command(
                user=w.bob, guild=w.guild, name="name",
                options={"starts_with": LETTERS}, settle_s=SETTLE,
            ),
            await fake.complete_command(
                user=w.bob, guild=w.guild, name="tags",
                options={"style": STYLE}, settle_s=SETTLE,
            ),
        ]  # fmt: skip
        p.signal(signal.SIGTERM)
        assert await exit_code_or_stacks(p, 30) == 0, p.output()
    for t in traces:
        assert_answered_once(t)
    assert MODEL in traces[1].final_text and LETTERS in traces[2].final_text  # the user is told
    assert [r["status"] for r in read_rows(db)] == ["ok", "unavailable", "invalid", "invalid"]
    output, stored = p.output(), _on_disk(db)
    assert "DEBUG" in output  # the log level is really DEBUG
    for sentinel in (PROMPT, MODEL, LETTERS, STYLE):
        assert sentinel not in output, f"{sentinel} in the process log"
        assert sentinel.encode() not in stored, f"{sentinel} in the database"
