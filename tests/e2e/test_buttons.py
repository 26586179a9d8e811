"""Reroll, Continue and Delete under finished replies, through the real bot and a fake Discord:
each button, after a restart, someone else's Delete, a press during shutdown, stale and
expired buttons."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.fakediscord import FakeDiscord, InteractionTrace

from .botharness import read_rows, running_bot
from .checks import assert_discord_valid, make_world
from .helpers import SETTLE, ModelControl, buttons, labels, press, row_of

pytestmark = pytest.mark.timeout(180)

MANAGE_MESSAGES = 1 << 13


async def delete(
    fake: FakeDiscord, trace: InteractionTrace, **kwargs: Any
) -> tuple[InteractionTrace, bool]:
    """Press Delete on ``trace``'s reply; the press, and whether the reply was deleted."""
    message = fake.messages[list(trace.messages)[-1]]
    pressed = await fake.click(trace, "Delete", **kwargs)
    await pressed.wait_for(lambda t: t.acknowledged and (message.deleted or t.answered))
    if pressed.answered:
        await pressed.wait_final(settle_s=SETTLE)
    return pressed, message.deleted


async def test_reroll_continue_and_delete(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path) as rb:
        first = await fake.complete_command(
            user=w.alice,
            guild=w.guild,
            name="lovecraft",
            options={"prompt": "The door", "length": 60, "seed": 5},
            settle_s=SETTLE,
        )
        assert labels(fake, first) == ["Reroll", "Continue", "Delete"]
        poem = await fake.complete_command(
            user=w.alice, guild=w.guild, name="poem", settle_s=SETTLE
        )
        assert labels(fake, poem) == ["Reroll", "Delete"]  # a poem is not continued

        reroll = await press(fake, first, "Reroll")
        assert reroll.deferred and not reroll.ephemeral
        assert reroll.final_text.startswith("**In the manner of Lovecraft**\nThe door")
        assert reroll.final_text != first.final_text and "-# seed 5" not in reroll.final_text
        assert set(reroll.messages).isdisjoint(first.messages)  # a new reply
        assert labels(fake, reroll) == ["Reroll", "Continue", "Delete"]

        more = await press(fake, first, "Continue", user=w.bob)  # anyone may continue
        assert not more.ephemeral and set(more.messages).isdisjoint(first.messages)

        refused, deleted = await delete(fake, first, user=w.bob)
        assert refused.ephemeral and "only the person who asked" in refused.final_text
        assert not deleted
        gone, deleted = await delete(fake, poem)
        assert deleted and not gone.final_messages
        moderated, deleted = await delete(fake, reroll, user=w.carol, permissions=MANAGE_MESSAGES)
        assert deleted and not moderated.final_messages
        for trace in (reroll, more, refused, gone, moderated):
            assert_discord_valid(trace.events)
        assert await rb.bot.request_log.flush()
    rows = read_rows(db_path)
    parent = row_of(rows, first)
    rerolled, continued = row_of(rows, reroll), row_of(rows, more)
    for row, button in ((rerolled, "reroll"), (continued, "continue")):
        assert row["parent_id"] == parent["interaction_id"] and row["command"] == "lovecraft"
        assert row["status"] == "ok" and json.loads(row["params"])["button"] == button
        assert json.loads(row["params"])["length"] == 60
    assert rerolled["prompt"] == "The door" and int(rerolled["user_id"]) == int(w.alice.id)
    # Continue primes the model with the reply's text (a cut's "…" left out) and writes on
    written = parent["output"].removesuffix("…")
    assert continued["prompt"] == written and int(continued["user_id"]) == int(w.bob.id)
    assert continued["output"].startswith(written)
    assert len(continued["output"]) > len(written)
    tail = written[-20:]
    assert tail in more.final_text  # the follow-up shows where it goes on from
    statuses = {(r["command"], r["status"], r["parent_id"] is not None) for r in rows}
    assert ("delete", "refused", True) in statuses and ("delete", "ok", True) in statuses


async def test_delete_removes_every_part_of_a_split_reply(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    """A reply too long for one message is deleted whole by a press on its last part, after
    a restart too; a part someone already deleted does not fail the press."""
    w = make_world(fake)
    # 64 lines of the tiny poems model: > 2,000 characters, two messages (a /lovecraft reply
    # of 2,000 characters now ends at a sentence end and may fit in one)
    long = {"lines": 64}
    async with running_bot(fake, tiny_models_dir, db_path) as rb:
        split, broken = [
            await fake.complete_command(
                user=w.alice,
                guild=w.guild,
                name="poem",
                options={**long, "seed": seed},
                settle_s=SETTLE,
            )
            for seed in (1, 2)
        ]
        assert await rb.bot.request_log.flush()
    split_parts, broken_parts = ([fake.messages[m] for m in t.messages] for t in (split, broken))
    rows = read_rows(db_path)
    for trace, parts in ((split, split_parts), (broken, broken_parts)):
        assert len(parts) == 2 and not any(m.deleted for m in parts)
        ids = json.loads(row_of(rows, trace)["params"])["messages"]
        assert [str(i) for i in ids] == [m.id for m in parts]
    async with running_bot(fake, tiny_models_dir, db_path):  # a new process's memory
        refused, deleted = await delete(fake, split, user=w.bob)
        assert refused.ephemeral and "only the person who asked" in refused.final_text
        assert not deleted and not any(m.deleted for m in split_parts)
        pressed, deleted = await delete(fake, split)
        assert deleted and all(m.deleted for m in split_parts)
        assert not pressed.final_messages  # no error, nothing left to say
        fake.delete_as_user(broken)  # a moderator removed its first part already
        pressed, deleted = await delete(fake, broken)
        assert deleted and all(m.deleted for m in broken_parts)
        assert_discord_valid(pressed.events)
        # a user-installed bot in a group DM cannot delete with its own token: it says so
        far = await fake.complete_command(
            user=w.alice,
            channel=fake.group_dm([w.alice, w.bob]),
            name="poem",
            options={**long, "seed": 3},
            user_installed=True,
            settle_s=SETTLE,
        )
        far_parts = [fake.messages[m] for m in far.messages]
        pressed, deleted = await delete(fake, far)
        await pressed.wait_for(lambda t: t.answered)
        await pressed.wait_final(settle_s=SETTLE)
        assert deleted and [m.deleted for m in far_parts] == [False, True]
        assert pressed.ephemeral and "cannot reach its other parts" in pressed.final_text
    # the presses' rows, written once they are over: the tolerated 404 is no failure
    presses = [r for r in read_rows(db_path) if r["command"] == "delete"]
    assert [(r["parent_id"], r["status"]) for r in presses] == [
        (int(split.interaction_id), "refused"),
        (int(split.interaction_id), "ok"),
        (int(broken.interaction_id), "ok"),
        (int(far.interaction_id), "ok"),
    ]


async def test_buttons_work_after_a_restart_and_explain_stale_ones(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path):
        story = await fake.complete_command(
            user=w.alice,
            guild=w.guild,
            name="story",
            options={"seed_words": "the fox saw", "length": 10, "seed": 3},
            settle_s=SETTLE,
        )
        poem = await fake.complete_command(
            user=w.alice, guild=w.guild, name="poem", settle_s=SETTLE
        )
    async with running_bot(fake, tiny_models_dir, db_path):  # a new process's memory
        again = await press(fake, story, "Continue")
        assert not again.ephemeral and again.final_text.startswith("**A fable**")
        with sqlite3.connect(db_path) as db:  # the poem's row is pruned
            db.execute("DELETE FROM requests WHERE interaction_id = ?", (poem.interaction_id,))
        stale = await press(fake, poem, "Reroll")
        assert stale.ephemeral and "record is gone" in stale.final_text
    only = {"BOT_MODELS": "lovecraft,poems,names"}  # the fables model is gone
    async with running_bot(fake, tiny_models_dir, db_path, env=only):
        stale = await press(fake, story, "Reroll")
        assert stale.ephemeral and "fables model" in stale.final_text
        assert "no longer available" in stale.final_text


async def test_expired_buttons_are_disabled(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path, env={"BOT_BUTTONS_EXPIRE": "1"}):
        poem = await fake.complete_command(
            user=w.alice, guild=w.guild, name="poem", settle_s=SETTLE
        )
        assert not any(b.get("disabled") for b in buttons(fake, poem))
        await asyncio.sleep(1.2)
        late = await press(fake, poem, "Reroll")
        assert late.callback_type == 7  # the message itself is updated...
        assert all(b.get("disabled") for b in buttons(fake, poem)) and buttons(fake, poem)
        assert any("expired" in m.content for m in late.final_messages if m.ephemeral)


async def test_a_press_during_shutdown_is_refused(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path) as rb:
        poem = await fake.complete_command(
            user=w.alice, guild=w.guild, name="poem", settle_s=SETTLE
        )
        with ModelControl(rb.bot, "lovecraft") as model:
            model.hold()
            busy = await fake.run_command(
                user=w.bob, guild=w.guild, name="lovecraft", options={"prompt": "The night"}
            )
            await model.wait_held()
            closing = asyncio.create_task(rb.bot.close())
            while rb.bot.requests.accepting:  # close() has begun
                await asyncio.sleep(0.01)
            late = await press(fake, poem, "Reroll")
            assert late.ephemeral and "restarting" in late.final_text
            model.release()
            await busy.wait_final(settle_s=SETTLE)
            await asyncio.wait_for(closing, 60)
    rows = read_rows(db_path)
    assert [r["status"] for r in rows if r["parent_id"] is not None] == ["refused"]


async def test_a_forged_button_id_gets_a_private_answer_and_its_row(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    """An id that is no Discord id (over 63 bits, zero, very long) is answered privately
    and logged as invalid (it raised OverflowError: a generic error, and no row)."""
    w = make_world(fake)
    forged = ["lstm:reroll:99999999999999999999", "lstm:delete:0", "lstm:continue:" + "9" * 40]
    async with running_bot(fake, tiny_models_dir, db_path) as rb:
        poem = await fake.complete_command(
            user=w.alice, guild=w.guild, name="poem", settle_s=SETTLE
        )
        message = fake.messages[list(poem.messages)[-1]]
        for custom_id in forged:  # the message's button carries the id (Discord checks that)
            button = {"type": 2, "style": 2, "label": "Forged", "custom_id": custom_id}
            message.payload["components"] = [{"type": 1, "components": [button]}]
            pressed = await press(fake, poem, "Forged", user=w.bob)
            assert pressed.ephemeral and "id is not valid" in pressed.final_text
        assert await rb.bot.request_log.flush()
        assert rb.bot.request_log.lost == 0
    rows = [r for r in read_rows(db_path) if r["interaction_id"] != int(poem.interaction_id)]
    assert [(r["command"], r["status"], r["parent_id"]) for r in rows] == [
        ("reroll", "invalid", None),
        ("delete", "invalid", None),
        ("continue", "invalid", None),
    ]
    assert not message.deleted


async def test_delete_without_the_row_and_without_a_cooldown(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    """After /forget-me the author can still Delete their public reply (Discord names who
    asked in the message's interaction_metadata); nobody else can. Delete is not held to the
    cooldown that Reroll and Continue are (the README says so)."""
    w = make_world(fake)
    env = {"BOT_COOLDOWN_RATE": "1", "BOT_COOLDOWN_PER": "600"}
    async with running_bot(fake, tiny_models_dir, db_path, env=env):
        mine, kept = [
            await fake.complete_command(user=u, guild=w.guild, name="poem", settle_s=SETTLE)
            for u in (w.alice, w.carol)
        ]
        ask = await fake.complete_command(user=w.alice, guild=w.guild, name="forget-me")
        confirm = await fake.click(ask, "Delete my data")
        await confirm.wait_for(lambda t: t.final_text.startswith("Done"), timeout=30)
        refused, deleted = await delete(fake, mine, user=w.bob)
        assert refused.ephemeral and "only the person who asked" in refused.final_text
        assert not deleted
        pressed, deleted = await delete(fake, mine)  # said "the record is gone" before
        assert deleted and not pressed.final_messages
        slow = await press(fake, kept, "Reroll")  # carol's one use in 600 s is spent
        assert slow.ephemeral and "Slow down" in slow.final_text
        pressed, deleted = await delete(fake, kept)
        assert deleted and not pressed.final_messages
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text("utf-8").split())
    assert "Delete is not held to the cooldowns" in readme


async def test_continue_a_long_reply_from_its_last_1000_characters(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    """Continue primes with the reply's last 1,000 characters (a prompt's limit), from a
    word start, and does not tell the user that their "prompt was long" (it did)."""
    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path) as rb:
        first = await fake.complete_command(
            user=w.alice,
            guild=w.guild,
            name="lovecraft",
            options={"prompt": "The door", "length": 1800, "seed": 4},
            settle_s=SETTLE,
        )
        more = await press(fake, first, "Continue")
        assert not more.ephemeral and "prompt was long" not in more.final_text
        assert await rb.bot.request_log.flush()
    rows = read_rows(db_path)
    output, primer = row_of(rows, first)["output"], row_of(rows, more)["prompt"]
    assert len(output) > 1000 and output.endswith(primer)
    assert 900 < len(primer) <= 1000 and output[-len(primer) - 1].isspace()
    assert row_of(rows, more)["output"].startswith(primer)
