"""Bad options, cooldowns and concurrency limits: short ephemeral answers, one row each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakediscord import FakeDiscord, InteractionTrace, RecordedRequest

from .botharness import read_rows, running_bot
from .checks import (
    CURSOR,
    assert_answered_once,
    assert_discord_valid,
    assert_one_row_each,
    finished,
    make_world,
    row_for,
)
from .helpers import SETTLE, ModelControl

pytestmark = pytest.mark.timeout(120)


def assert_ephemeral_refusal(trace: InteractionTrace, needle: str) -> None:
    assert_answered_once(trace)
    assert_discord_valid(trace.events)
    assert trace.ephemeral, trace.summary()
    visible = trace.final_messages
    assert len(visible) == 1, trace.summary()
    assert needle in visible[0].content, visible[0].content
    assert len(visible[0].content) <= 300  # short


async def test_bad_options_are_answered_ephemerally(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path):
        style = await fake.complete_command(
            user=w.alice, guild=w.guild, name="name", options={"style": "klingon"}, settle_s=SETTLE
        )
        nobody = await fake.complete_command(
            user=w.bob,
            guild=w.guild,
            name="name",
            options={"for": "nobody at all"},
            settle_s=SETTLE,
        )
        stale = await fake.complete_command(
            user=w.carol, guild=w.guild, name="haiku", options={"topic": "x"}, settle_s=SETTLE
        )
    assert_ephemeral_refusal(style, "Unknown style")
    assert_ephemeral_refusal(nobody, "Mention the members")
    assert_ephemeral_refusal(stale, "out of date")
    rows = read_rows(db_path)
    assert_one_row_each([style, nobody, stale], rows)
    assert {r["command"]: r["status"] for r in rows} == {
        "name": "invalid",
        "haiku": "invalid",
    } and [r["status"] for r in rows].count("invalid") == 3


async def test_out_of_range_options_discord_would_block_are_still_handled(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    """Discord enforces min/max before sending; a bot must survive values that skip it."""
    w = make_world(fake)
    cases = [
        ("lovecraft", {"prompt": "x", "length": 5}),
        ("lovecraft", {"prompt": "x", "length": 10**9}),
        ("poem", {"temperature": 50.0}),
        ("poem", {"temperature": -1.0}),
        ("name", {"count": 0}),
        ("name", {"count": 1000}),
        ("story", {"seed_words": "", "length": 30}),
        ("stats", {"days": -5}),
    ]
    users = [fake.add_user(f"u{i}") for i in range(len(cases))]
    async with running_bot(fake, tiny_models_dir, db_path):
        traces = [
            await fake.complete_command(
                user=u, guild=w.guild, name=name, options=opts, settle_s=SETTLE, timeout=60
            )
            for u, (name, opts) in zip(users, cases, strict=True)
        ]
    rows = read_rows(db_path)
    assert_one_row_each(traces, rows)
    for t in traces:
        assert_answered_once(t)
        assert_discord_valid(t.events)
        status = row_for(rows, t)["status"]
        assert status in ("ok", "invalid"), (t.summary(), status)
        if status == "invalid":
            assert t.ephemeral, t.summary()


async def test_cooldown_refuses_ephemerally_per_user(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    env = {"BOT_COOLDOWN_RATE": "1", "BOT_COOLDOWN_PER": "60"}
    async with running_bot(fake, tiny_models_dir, db_path, env=env):
        first = await fake.complete_command(
            user=w.alice, guild=w.guild, name="name", options={"count": 2}, settle_s=SETTLE
        )
        second = await fake.complete_command(
            user=w.alice, guild=w.guild, name="poem", settle_s=SETTLE
        )
        other = await fake.complete_command(
            user=w.bob, guild=w.guild, name="name", options={"count": 2}, settle_s=SETTLE
        )
    assert_answered_once(first)
    assert not first.ephemeral
    assert_ephemeral_refusal(second, "try again in")
    assert_answered_once(other)
    assert not other.ephemeral
    rows = read_rows(db_path)
    assert_one_row_each([first, second, other], rows)
    assert row_for(rows, second)["status"] == "refused"
    assert row_for(rows, first)["status"] == row_for(rows, other)["status"] == "ok"


async def test_one_generation_per_user_and_guild_concurrency(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    long = {"prompt": "It was a dark night", "length": 2000}
    env = {"BOT_GUILD_CONCURRENCY": "1"}
    async with running_bot(fake, tiny_models_dir, db_path, env=env) as rb:
        # alice's reply is held in the model until the others have been answered
        with ModelControl(rb.bot, "lovecraft") as model:
            model.hold()
            running = await fake.run_command(
                user=w.alice, guild=w.guild, name="lovecraft", options=long
            )
            await model.wait_held()
            same_user = await fake.run_command(
                user=w.alice, guild=w.other_guild, name="poem", options={}
            )
            same_guild = await fake.run_command(user=w.bob, guild=w.guild, name="poem", options={})
            elsewhere = await fake.run_command(
                user=w.carol, guild=w.other_guild, name="name", options={"count": 2}
            )
            for t in (same_user, same_guild, elsewhere):
                await t.wait_final(settle_s=SETTLE, timeout=60)
            model.release()
            await running.wait_final(settle_s=SETTLE, timeout=60)
    assert_ephemeral_refusal(same_user, "already have a generation running")
    assert_ephemeral_refusal(same_guild, "too many generations")
    for t in (running, elsewhere):
        assert_answered_once(t)
        assert not t.ephemeral
    rows = read_rows(db_path)
    assert_one_row_each([running, same_user, same_guild, elsewhere], rows)
    assert row_for(rows, same_guild)["status"] == "refused"
    assert row_for(rows, running)["status"] == "ok"


async def test_a_finished_request_frees_only_its_own_guild_slot(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    """BOT_GUILD_CONCURRENCY=2. Bob's reply is held running; alice's request finishes (its
    lease is released twice on the way out); carol's reply is held too; dave must now be
    refused: with a release that is not idempotent, alice's second release would have
    freed bob's slot and let a third generation run in the guild."""
    w = make_world(fake)
    dave = fake.add_user("dave")
    w.guild.members.append(dave)
    long = {"prompt": "It was a dark night", "length": 2000}
    env = {"BOT_GUILD_CONCURRENCY": "2"}
    async with running_bot(fake, tiny_models_dir, db_path, env=env) as rb:
        with ModelControl(rb.bot, "lovecraft") as model:
            model.hold()
            bob = await fake.run_command(user=w.bob, guild=w.guild, name="lovecraft", options=long)
            await model.wait_held()
            alice = await fake.complete_command(
                user=w.alice, guild=w.guild, name="name", options={"count": 2}, settle_s=SETTLE
            )
            carol = await fake.run_command(
                user=w.carol, guild=w.guild, name="lovecraft", options=long
            )
            await carol.wait_for(lambda t: t.first_text_at is not None, timeout=30)
            refused = await fake.complete_command(
                user=dave, guild=w.guild, name="poem", settle_s=SETTLE
            )
            model.release()
            for t in (bob, carol):
                await t.wait_final(settle_s=SETTLE, timeout=60)
    assert_ephemeral_refusal(refused, "too many generations")
    for t in (alice, bob, carol):
        assert_answered_once(t)
        assert not t.ephemeral, t.summary()
    rows = read_rows(db_path)
    assert_one_row_each([bob, alice, carol, refused], rows)
    assert row_for(rows, refused)["status"] == "refused"


async def test_invalid_requests_do_not_use_up_the_cooldown(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    """3 requests per 30 s: three rejected ones must not lock the user out."""
    w = make_world(fake)
    env = {"BOT_COOLDOWN_RATE": "3", "BOT_COOLDOWN_PER": "30"}
    invalid = [
        ("name", {"style": "klingon"}),
        ("lovecraft", {"prompt": "   "}),
        ("poem", {"temperature": 50.0}),
    ]
    async with running_bot(fake, tiny_models_dir, db_path, env=env):
        rejected = [
            await fake.complete_command(
                user=w.alice, guild=w.guild, name=name, options=opts, settle_s=SETTLE
            )
            for name, opts in invalid
        ]
        accepted = await fake.complete_command(
            user=w.alice, guild=w.guild, name="name", options={"count": 2}, settle_s=SETTLE
        )
    rows = read_rows(db_path)
    assert_one_row_each([*rejected, accepted], rows)
    for t in rejected:
        assert_answered_once(t)
        assert t.ephemeral and "try again in" not in t.final_text, t.summary()
    assert [r["status"] for r in rows] == ["invalid", "invalid", "invalid", "ok"]
    assert_answered_once(accepted)
    assert not accepted.ephemeral and accepted.final_text.startswith("**Names**")


def _final_edit_of(trace: InteractionTrace) -> Callable[[RecordedRequest], bool]:
    """A predicate for the edit that shows ``trace``'s final text (no streaming cursor)."""

    def matches(request: RecordedRequest) -> bool:
        body = request.body if isinstance(request.body, dict) else {}
        content = str(body.get("content") or "")
        return request.params.get("token") == trace.token and not content.endswith(CURSOR)

    return matches


async def test_user_can_start_again_as_soon_as_the_final_text_shows(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    """The fake Discord holds each reply's final edit unanswered until the same user's next
    command has been answered: that command must be accepted, so the user's slot was free
    before the final text was sent."""
    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path):
        traces = []
        for seed in range(3):
            poem = await fake.run_command(
                user=w.alice, guild=w.guild, name="poem", options={"seed": seed}
            )
            final_edit = fake.faults.hold("edit_original", predicate=_final_edit_of(poem))
            await asyncio.wait_for(final_edit.arrived.wait(), 30)
            assert poem.in_flight == 1 and not finished(poem)  # the final text is on its way
            nxt = await fake.complete_command(
                user=w.alice, guild=w.guild, name="name", options={"count": 1}, settle_s=0.3
            )
            final_edit.release()
            await poem.wait_final(settle_s=0.3, timeout=30)
            traces += [poem, nxt]
    rows = read_rows(db_path)
    assert_one_row_each(traces, rows)
    for t in traces:
        assert_answered_once(t)
        assert not t.ephemeral, t.summary()  # none refused as "already running"
    assert [r["status"] for r in rows] == ["ok"] * 6
