"""Each command from interaction to final message, through the real bot and a fake Discord."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from bot.products import KINDS
from tests.fakediscord import FakeDiscord

from .botharness import read_rows, running_bot
from .checks import (
    ALL_COMMANDS,
    assert_answered_once,
    assert_discord_valid,
    assert_one_row_each,
    make_world,
    row_for,
)
from .helpers import SETTLE, ModelControl

pytestmark = pytest.mark.timeout(120)


async def test_poem_stanzas_originality_and_reproducible_seed(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path):
        first = await fake.complete_command(
            user=w.alice,
            guild=w.guild,
            name="poem",
            options={"first_line": "the sea is wide", "seed": 7},
            settle_s=SETTLE,
        )
        again = await fake.complete_command(
            user=w.bob,
            guild=w.guild,
            name="poem",
            options={"first_line": "the sea is wide", "seed": 7},
            settle_s=SETTLE,
        )
    rows = read_rows(db_path)
    for trace in (first, again):
        assert_answered_once(trace)
        assert_discord_valid(trace.events)
        assert trace.deferred and not trace.ephemeral
    text = first.final_text
    title, *body = text.split("\n")
    m = re.fullmatch(r"\*\*A poem\*\* · originality (\d+)%", title)
    assert m and 0 <= int(m.group(1)) <= 100, title
    verse = [line for line in body if not line.startswith("-# ")]
    assert verse[0] == "> the sea is wide"
    assert all(line == ">" or line.startswith("> ") for line in verse), verse
    assert all(line == line.rstrip() for line in verse)
    # stanzas: separated by single empty quote lines, never two in a row, none at the ends
    assert verse[-1] != ">" and "\n>\n>\n" not in "\n".join(verse)
    assert len(verse) >= 2
    assert "-# seed 7" in body
    # same seed and options: the same poem
    assert again.final_text == first.final_text
    assert_one_row_each([first, again], rows)
    row = row_for(rows, first)
    assert row["status"] == "ok" and row["model"] == "poems"
    assert row["prompt"] == "the sea is wide" and row["tokens"] > 0
    assert row["first_token_s"] is not None and row["total_s"] >= row["first_token_s"]
    assert row["output"].split("\n")[0] == "the sea is wide"


async def test_names_distinct_and_novel(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    known = {
        n.strip().lower()
        for n in (tiny_models_dir / "names.names.txt").read_text("utf-8").splitlines()
        if n.strip()
    }
    assert known
    async with running_bot(fake, tiny_models_dir, db_path):
        trace = await fake.complete_command(
            user=w.alice,
            guild=w.guild,
            name="name",
            options={"style": "english", "count": 6},
            settle_s=SETTLE,
        )
    assert_answered_once(trace)
    assert_discord_valid(trace.events)
    lines = trace.final_text.split("\n")
    assert lines[0] == "**Names** (English)"
    names = [m.group(1) for line in lines if (m := re.fullmatch(r"\d+\. \*\*(.+)\*\*", line))]
    assert len(names) == 6, lines
    assert len({n.lower() for n in names}) == 6
    assert not {n.lower() for n in names} & known
    row = row_for(read_rows(db_path), trace)
    assert row["status"] == "ok" and row["model"] == "names"
    assert '"count": 6' in row["params"]


async def test_names_christen_members_without_pinging(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path):
        trace = await fake.complete_command(
            user=w.alice,
            guild=w.guild,
            name="name",
            options={"for": f"{w.bob.mention} and {w.carol.mention} @everyone"},
            settle_s=SETTLE,
        )
    assert_answered_once(trace)
    assert_discord_valid(trace.events)  # the mentions are shown, nobody is pinged
    lines = trace.final_text.split("\n")
    assert lines[0].startswith("**Christening**")
    assert lines[1].startswith(f"<@{w.bob.id}> shall henceforth be known as **")
    assert lines[2].startswith(f"<@{w.carol.id}> shall henceforth be known as **")
    row = row_for(read_rows(db_path), trace)
    assert row["status"] == "ok" and '"count": 2' in row["params"]


async def test_story_contains_seed_words(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path):
        trace = await fake.complete_command(
            user=w.carol,
            guild=w.other_guild,
            name="story",
            options={"seed_words": "the fox and the crow", "length": 30},
            settle_s=SETTLE,
        )
    assert_answered_once(trace)
    assert_discord_valid(trace.events)
    title, story = trace.final_text.split("\n", 1)
    assert title == "**A fable**"
    words = set(re.findall(r"\w+", story.lower()))
    assert {"fox", "crow"} <= words
    row = row_for(read_rows(db_path), trace)
    assert (
        row["status"] == "ok"
        and row["model"] == "fables"
        and row["guild_id"] == int(w.other_guild.id)
    )


async def test_lovecraft_streams_within_the_edit_rate(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    """Long replies from several users at once: previews stream (with a cursor), edits of one
    reply are never closer than BOT_EDIT_INTERVAL, every message fits in 2,000 chars."""
    w = make_world(fake)
    interval = 0.25
    users = [w.alice, w.bob, w.carol]
    async with running_bot(
        fake, tiny_models_dir, db_path, env={"BOT_EDIT_INTERVAL": str(interval)}
    ) as rb:
        # >= 1 ms per model step: >= 2 s of streaming for 2,000 characters on any machine,
        # so each reply has several previews however fast this one is
        with ModelControl(rb.bot, "lovecraft", step_s=0.001):
            traces = [
                await fake.run_command(
                    user=u,
                    guild=w.guild,
                    name="lovecraft",
                    options={"prompt": f"The house of {u.username}", "length": 2000, "seed": i},
                )
                for i, u in enumerate(users)
            ]
            for t in traces:
                await t.wait_final(settle_s=SETTLE, timeout=60)
    rows = read_rows(db_path)
    assert_one_row_each(traces, rows)
    streamed = edits_seen = 0
    for t in traces:
        assert_answered_once(t)
        assert_discord_valid(t.events)
        shown = [e for e in t.events if e.kind != "deferred"]
        previews = [e for e in shown if e.content.endswith("▌")]
        streamed += bool(previews)
        assert not any(m.content.endswith("▌") for m in t.final_messages)
        assert t.final_text.startswith("**In the manner of Lovecraft**\nThe house of")
        # per message: no more edits than one per `interval` over the reply's life, and no
        # burst (gaps are measured on arrival, so a send delayed by a busy loop may land
        # closer to the next one: half the interval is the floor)
        for message_id in {e.message_id for e in shown}:
            times = [e.t for e in shown if e.message_id == message_id]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert all(g >= interval * 0.5 for g in gaps), gaps
            assert len(times) <= (times[-1] - times[0]) / interval + 2, gaps
        edits_seen += len(shown)
        row = row_for(rows, t)
        assert row["status"] == "ok" and row["tokens"] >= 1000
    assert streamed == len(traces)  # every reply showed previews before its final text
    assert edits_seen >= 3 * len(traces)  # and they really streamed: several edits each


async def test_prompt_is_echoed_short_and_inert(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    """A 6,000-character prompt with masked links and a right-to-left override: the reply
    shows its last 200 characters at most, with no live link and no bidi control."""
    w = make_world(fake)
    prompt = (
        "[click me](https://evil.example) \u202eevil\u202c "
        + "night " * 1000
        + "\u2067[tail](https://evil.example/x)\u2069 the end"
    )
    async with running_bot(fake, tiny_models_dir, db_path):
        trace = await fake.complete_command(
            user=w.alice,
            guild=w.guild,
            name="lovecraft",
            options={"prompt": prompt, "length": 40, "seed": 1},
            settle_s=SETTLE,
        )
    assert_answered_once(trace)
    assert_discord_valid(trace.events)  # no masked link, no bidi control, in any edit
    title, body = trace.final_text.split("\n", 1)
    assert title == "**In the manner of Lovecraft**"
    assert body.startswith("…night night")  # the end of the prompt, cut at a word
    assert "[tail]\u200b(https://evil.example/x) the end" in body  # the url shows as text
    assert "click me" not in trace.final_text  # the start of the prompt is not shown
    assert len(trace.final_text) < 200 + 300  # echo + ~40 characters + notes
    assert all(len(e.content) < 600 for e in trace.events)  # previews were short too
    row = row_for(read_rows(db_path), trace)
    assert row["status"] == "ok" and row["prompt"] == prompt  # logged as given


async def test_models_and_stats(fake: FakeDiscord, tiny_models_dir: Path, db_path: Path) -> None:
    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path):
        models = await fake.complete_command(
            user=w.alice, guild=w.guild, name="models", settle_s=0.3
        )
        poem = await fake.complete_command(user=w.bob, guild=w.guild, name="poem", settle_s=SETTLE)
        stats = await fake.complete_command(
            user=w.alice, guild=w.guild, name="stats", options={"days": 1}, settle_s=0.3
        )
    for t in (models, poem, stats):
        assert_answered_once(t)
        assert_discord_valid(t.events)
    assert not models.ephemeral and models.callback_type == 4
    for name in ("lovecraft", "poems", "names", "fables"):
        assert f"`{name}`" in models.final_text
    assert stats.ephemeral
    assert "/poem" not in stats.final_text  # bob's: /stats shows the caller's own requests
    assert re.search(r"/models: 1 \(1 ok\)", stats.final_text), stats.final_text
    rows = read_rows(db_path)
    assert_one_row_each([models, poem, stats], rows)
    assert {r["status"] for r in rows} == {"ok"}


async def test_dm_and_group_dm_user_install(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    w = make_world(fake)
    async with running_bot(fake, tiny_models_dir, db_path):
        dm = await fake.complete_command(
            user=w.alice, name="name", options={"count": 3}, user_installed=True, settle_s=SETTLE
        )
        group = fake.group_dm([w.alice, w.bob])
        gdm = await fake.complete_command(
            user=w.bob,
            channel=group,
            name="poem",
            options={"first_line": "friends"},
            user_installed=True,
            settle_s=SETTLE,
        )
    for t in (dm, gdm):
        assert_answered_once(t)
        assert_discord_valid(t.events)
    assert dm.final_text.startswith("**Names**")
    assert gdm.final_text.split("\n")[1] == "> friends"
    rows = read_rows(db_path)
    assert_one_row_each([dm, gdm], rows)
    assert all(r["guild_id"] is None and r["status"] == "ok" for r in rows)
    assert row_for(rows, gdm)["channel_id"] == int(group.id)


async def test_synced_commands_are_valid_and_available_everywhere(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path
) -> None:
    async with running_bot(fake, tiny_models_dir, db_path):
        pass
    cmds = {c["name"]: c for c in fake.global_commands}
    assert set(cmds) == ALL_COMMANDS
    for c in cmds.values():
        assert sorted(c["integration_types"]) == [0, 1]  # guild and user installs
        if c["name"] != "server-stats":  # servers only (test_privacy_stats.py)
            assert sorted(c["contexts"]) == [0, 1, 2]  # guilds, DMs, group DMs
    opts = {o["name"]: o for o in cmds["lovecraft"]["options"]}
    assert opts["prompt"]["required"] and opts["prompt"]["type"] == 3
    length = KINDS["prose"].option("length")  # the registry's range (test_slash_commands)
    assert (opts["length"]["min_value"], opts["length"]["max_value"]) == (length.low, length.high)
    style = {o["name"]: o for o in cmds["name"]["options"]}["style"]
    assert {ch["value"] for ch in style["choices"]} == {"english", "jinyong", "gulong"}
