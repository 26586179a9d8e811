"""Faults: a dropped gateway mid-stream, 429s on edits, 500s on a callback, a locked or
read-only request log, broken model files at start."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path

import pytest

from tests.fakediscord import FakeDiscord

from .botharness import read_rows, running_bot
from .checks import (
    assert_answered_once,
    assert_discord_valid,
    assert_one_row_each,
    finished,
    make_world,
    row_for,
)
from .helpers import SETTLE, DatabaseLock, ModelControl

pytestmark = pytest.mark.timeout(120)

LONG = {"prompt": "The old house stood", "length": 2000}


async def test_gateway_drop_mid_stream_resumes_and_loses_nothing(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    users = [w.alice, w.bob, w.carol]
    async with running_bot(fake, tiny_models_dir, db_path) as rb:
        # >= 1 ms a model step: each reply streams for >= 2 s on any machine
        with ModelControl(rb.bot, "lovecraft", step_s=0.001):
            streaming = [
                await fake.run_command(
                    user=u, guild=w.guild, name="lovecraft", options={**LONG, "seed": i}
                )
                for i, u in enumerate(users)
            ]
            for t in streaming:  # every reply has shown text and is still going
                await t.wait_for(lambda t: t.first_text_at is not None, timeout=30)
            assert not any(finished(t) for t in streaming)
            assert await fake.gateway.drop(mode="abort") == 1
            late = fake.add_user("late")
            # sent while the bot is disconnected: Discord replays it after RESUME
            during = await fake.run_command(
                user=late, guild=w.other_guild, name="name", options={"count": 2}
            )
            await fake.gateway.wait_resumed(1, timeout=30)
            for t in [*streaming, during]:
                await t.wait_final(settle_s=SETTLE, timeout=60)
        await asyncio.wait_for(rb.bot.wait_until_ready(), 10)
        assert rb.bot.gateway_connected()
    assert fake.gateway.identifies == 1 and fake.gateway.resumes == 1
    rows = read_rows(db_path)
    assert_one_row_each([*streaming, during], rows)
    for t in [*streaming, during]:
        assert_answered_once(t)
        assert_discord_valid(t.events)
        assert row_for(rows, t)["status"] == "ok"
    for t in streaming:
        assert t.final_text.startswith("**In the manner of Lovecraft**\nThe old house stood")
        assert row_for(rows, t)["tokens"] >= 1000


async def _long_reply_text(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path, *, faults: bool
) -> tuple[str, list[int], int]:
    """One long reply (spilling into a follow-up).

    Returns (final text, [messages at the end, follow-ups posted], 429s met)."""
    w = make_world(fake)
    fake.done_rule = finished
    fault_hits = 0
    async with running_bot(fake, tiny_models_dir, db_path):
        if faults:
            edits = fake.faults.rate_limit("edit_original", times=3, retry_after=0.3)
            follow = fake.faults.rate_limit("followup", times=1, retry_after=0.3)
        trace = await fake.complete_command(
            user=w.alice,
            guild=w.guild,
            name="poem",  # 64 lines: > 2,000 characters (a 2,000-char /lovecraft may fit one)
            options={"first_line": "Cthulhu @everyone <@&1> dreams", "lines": 64, "seed": 99},
            settle_s=SETTLE,
            timeout=60,
        )
        if faults:
            fault_hits = edits.hits + follow.hits
            limited = [r for r in trace.requests if r.status == 429]
            for r in limited:  # the next try of the same route waited retry_after
                nxt = next(x for x in trace.requests if x.t > r.t and x.route == r.route)
                assert nxt.t - r.t >= 0.28
    assert_discord_valid(trace.events)
    assert row_for(read_rows(db_path), trace)["status"] == "ok"
    assert len(trace.messages) == len(trace.final_messages)  # nothing left "thinking"
    created = [r for r in trace.requests if r.route == "followup" and r.status == 200]
    # the messages the reply ended with, and how many follow-ups were ever posted
    return trace.final_text, [len(trace.messages), len(created)], fault_hits


async def test_rate_limited_edits_are_retried_without_duplicates(
    tiny_models_dir: Path, tmp_path: Path
) -> None:
    async with FakeDiscord() as fake:
        clean_text, clean_shape, _ = await _long_reply_text(
            fake, tiny_models_dir, tmp_path / "a.db", faults=False
        )
    async with FakeDiscord() as fake:
        text, shape, hits = await _long_reply_text(
            fake, tiny_models_dir, tmp_path / "b.db", faults=True
        )
    assert hits >= 3  # the bot really met the 429s
    assert clean_shape[0] >= 2  # a 64-line poem needs a follow-up
    assert shape == clean_shape  # as many messages and follow-ups: none duplicated or lost
    assert text == clean_text  # same seed: the final text is intact


async def test_server_errors_on_the_callback_mark_the_row_failed(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """discord.py retries a 500 after 1 s, then 3 s: by then Discord's 3 s deadline for the
    first answer has passed, so the interaction is lost; the row says so."""
    w = make_world(fake)
    caplog.set_level(logging.INFO)
    async with running_bot(fake, tiny_models_dir, db_path):
        fake.faults.server_error("callback", times=2)
        broken = await fake.run_command(user=w.alice, guild=w.guild, name="poem", options={})
        await broken.wait_for(
            lambda t: sum(r.route == "callback" for r in t.requests) >= 4, timeout=30
        )
        await asyncio.sleep(0.5)
        after = await fake.complete_command(
            user=w.bob, guild=w.guild, name="name", options={"count": 2}, settle_s=SETTLE
        )
    statuses = [r.status for r in broken.requests if r.route == "callback"]
    assert statuses[:2] == [500, 500] and all(s == 404 for s in statuses[2:]), statuses
    assert not broken.acknowledged
    assert_answered_once(after)  # the bot is fine afterwards
    rows = read_rows(db_path)
    assert_one_row_each([broken, after], rows)
    row = row_for(rows, broken)
    assert row["status"] == "failed" and "NotFound" in (row["error"] or ""), row
    assert any(
        r.levelno >= logging.ERROR
        and r.getMessage().startswith("/poem ")
        and " failed" in r.getMessage()
        for r in caplog.records
    )


async def _wait_rows(db_path: Path, n: int, timeout: float) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    rows = read_rows(db_path)
    while len(rows) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        rows = read_rows(db_path)
    return rows


async def test_database_locked_by_another_process(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path) as rb:
        warm = await fake.complete_command(user=w.carol, guild=w.guild, name="models", settle_s=0.3)
        assert len(await _wait_rows(db_path, 1, 10)) == 1
        lock = await DatabaseLock.take(db_path)
        during = [
            await fake.complete_command(
                user=u, guild=w.guild, name="name", options={"count": 2}, settle_s=0.3
            )
            for u in (w.alice, w.bob)
        ]
        # answered while the database is still locked (the lock is released only below)
        for t in during:
            assert_answered_once(t)
        # not written yet: only the row from before the lock is in the file
        assert len(read_rows(db_path)) == 1
        assert rb.bot.request_log.pending >= 1
        await lock.release()
        rows = await _wait_rows(db_path, 3, 20)
        assert rb.bot.request_log.lost == 0
    assert_one_row_each([warm, *during], rows)
    assert all(r["status"] == "ok" for r in rows)


async def test_read_only_database_rows_kept_then_written_or_reported(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The bot's connection is switched to read-only (``PRAGMA query_only``: writes then fail
    with SQLITE_READONLY exactly as with a read-only file; chmod cannot do it for root)."""
    w = make_world(fake)
    caplog.set_level(logging.WARNING)
    async with running_bot(fake, tiny_models_dir, db_path) as rb:
        log = rb.bot.request_log
        db = log._db
        await db.execute("PRAGMA query_only = ON")
        first = await fake.complete_command(
            user=w.alice, guild=w.guild, name="name", options={"count": 2}, settle_s=0.5
        )
        assert_answered_once(first)
        await asyncio.sleep(0.5)
        assert log.pending == 1 and "readonly" in (log.last_error or "")
        assert read_rows(db_path) == []
        await db.execute("PRAGMA query_only = OFF")  # writable again: the row gets written
        assert len(await _wait_rows(db_path, 1, 20)) == 1
        await db.execute("PRAGMA query_only = ON")  # read-only until shutdown
        second = await fake.complete_command(
            user=w.bob, guild=w.guild, name="poem", options={}, settle_s=SETTLE
        )
        assert_answered_once(second)
    rows = read_rows(db_path)
    assert_one_row_each([first], rows)
    assert log.lost == 1  # the second row: counted...
    lost = [r for r in caplog.records if "could NOT be written" in r.getMessage()]
    assert lost and lost[0].levelno == logging.ERROR  # ...and reported loudly


async def test_missing_and_corrupt_model_files_at_start(
    fake: FakeDiscord,
    tiny_models_dir: Path,
    tmp_path: Path,
    db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_models_dir, models)
    (models / "poems.onnx").write_bytes(b"this is not an onnx file")
    (models / "fables.onnx").unlink()
    caplog.set_level(logging.INFO)
    w = make_world(fake)
    async with running_bot(fake, models, db_path):
        poem = await fake.complete_command(user=w.alice, guild=w.guild, name="poem", settle_s=0.5)
        story = await fake.complete_command(
            user=w.bob, guild=w.guild, name="story", options={"seed_words": "fox"}, settle_s=0.5
        )
        names = await fake.complete_command(
            user=w.carol, guild=w.guild, name="name", options={"count": 2}, settle_s=SETTLE
        )
        info = await fake.complete_command(user=w.carol, guild=w.other_guild, name="models")
    errors = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
    assert "poems.onnx" in errors and "fables.onnx" in errors, errors
    for t in (poem, story):
        assert_answered_once(t)
        assert t.ephemeral and "not" in t.final_text.lower(), t.final_text
    assert_answered_once(names)
    assert not names.ephemeral and names.final_text.startswith("**Names**")
    assert "`poems`: not available (poems.onnx: " in info.final_text
    assert str(models) not in info.final_text  # file names only: no server path for users
    rows = read_rows(db_path)
    assert_one_row_each([poem, story, names, info], rows)
    assert row_for(rows, poem)["status"] == "unavailable"
    assert row_for(rows, names)["status"] == "ok"
