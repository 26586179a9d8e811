"""Assertions shared by the end-to-end tests."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.products import BUILTIN
from tests.fakediscord import FakeDiscord, FakeGuild, FakeUser, InteractionTrace, MessageEvent

# every command the bot registers: the registry's products, the rest, and the user menu
ALL_COMMANDS = {p.command for p in BUILTIN} | {
    "models",
    "stats",
    "server-stats",
    "forget-me",
    "write",
    "Christen",
}
NO_MENTIONS = {"parse": []}
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
MASKED_LINK = re.compile(r"\[[^\]]*\]\(")  # "[text](url)": shows text, hides the url
CURSOR = "\u258c"  # the bot's streaming cursor: previews end with it, final texts never do


def finished(trace: InteractionTrace) -> bool:
    """The project's bot is done with an interaction when no message shows the cursor."""
    return not any(m.content.endswith(CURSOR) for m in trace.final_messages)


@dataclass
class World:
    fake: FakeDiscord
    alice: FakeUser
    bob: FakeUser
    carol: FakeUser
    guild: FakeGuild
    other_guild: FakeGuild


def make_world(fake: FakeDiscord) -> World:
    alice, bob, carol = (fake.add_user(n) for n in ("alice", "bob", "carol"))
    guild = fake.add_guild("Writers", members=[alice, bob, carol], roles=["poets"])
    other = fake.add_guild("Readers", members=[carol])
    return World(fake, alice, bob, carol, guild, other)


def assert_discord_valid(events: Iterable[MessageEvent]) -> None:
    """Every message the bot produced is something Discord accepts and shows safely."""
    for ev in events:
        assert len(ev.content) <= 2000, (ev.kind, len(ev.content))
        ev.content.encode("utf-8")  # no lone surrogates
        assert not BIDI_CONTROLS.search(ev.content), (ev.kind, ascii(ev.content[:200]))
        assert not MASKED_LINK.search(ev.content), (ev.kind, ev.content[:200])
        assert ev.pings == [], (ev.kind, ev.pings, ev.content[:200])
        if ev.kind != "delete" and not ev.loading:
            assert ev.allowed_mentions == NO_MENTIONS, (ev.kind, ev.allowed_mentions)


def assert_answered_once(trace: InteractionTrace) -> None:
    """Acknowledged exactly once, nothing rejected by Discord."""
    ok_callbacks = [r for r in trace.requests if r.route == "callback" and r.status < 300]
    assert len(ok_callbacks) == 1, trace.summary()
    rejected = [r for r in trace.requests if r.status in (400, 404) or r.status >= 500]
    assert rejected == [], trace.summary()
    assert trace.answered, trace.summary()


def assert_one_row_each(traces: Iterable[InteractionTrace], rows: list[dict[str, Any]]) -> None:
    """Exactly one request-log row per interaction: same (user, command) multiset."""
    want = Counter((int(t.user.id), t.name) for t in traces)
    got = Counter((int(r["user_id"]), r["command"]) for r in rows)
    assert got == want, f"rows {got - want} extra, {want - got} missing"


def row_for(rows: list[dict[str, Any]], trace: InteractionTrace) -> dict[str, Any]:
    matches = [
        r for r in rows if int(r["user_id"]) == int(trace.user.id) and r["command"] == trace.name
    ]
    assert len(matches) == 1, matches
    return matches[0]
