"""1,000 hostile prompts and options through the fake Discord into the real bot."""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

import pytest

from tests.fakediscord import FakeDiscord, InteractionTrace

from .badinput import HostileText, hostile_options, mentions
from .botharness import read_rows, running_bot
from .checks import assert_answered_once, assert_discord_valid, assert_one_row_each, make_world

pytestmark = pytest.mark.timeout(300)

N = 1000
CONCURRENCY = 40


async def test_thousand_hostile_requests(
    fake: FakeDiscord, tiny_models_dir: Path, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    w = make_world(fake)
    users = [fake.add_user(f"h{i}") for i in range(100)]
    w.guild.members.extend(users)
    rng = random.Random(20240601)
    pings = mentions(
        [u.id for u in users[:5]] + [w.alice.id],
        [r.id for r in w.guild.roles] + [w.guild.id],
        [c.id for c in w.guild.channels],
    )
    text = HostileText(rng, pings)
    cases = [hostile_options(rng, text) for _ in range(N)]
    traces: list[InteractionTrace] = []
    slots = asyncio.Semaphore(CONCURRENCY)

    busy = {u.id: asyncio.Lock() for u in users}  # one request per user at a time

    async def one(i: int, name: str, options: dict[str, object]) -> None:
        user = users[i % len(users)]
        async with slots, busy[user.id]:
            where = {"guild": w.guild} if i % 5 else {}  # every fifth one in a DM
            trace = await fake.run_command(user=user, name=name, options=options, **where)
            traces.append(trace)
            await trace.wait_final(settle_s=0.4, timeout=60)

    async with running_bot(fake, tiny_models_dir, db_path):
        await asyncio.gather(*(one(i, n, o) for i, (n, o) in enumerate(cases)))

    assert len(traces) == N
    statuses: dict[str, int] = {}
    rows = read_rows(db_path)
    assert_one_row_each(traces, rows)  # every request logged, exactly once
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    for t in traces:
        assert_answered_once(t)  # no crash: every one answered, once, accepted by Discord
        assert_discord_valid(t.events)  # <= 2,000 chars, UTF-8, no ping, no mentions parsed
    # no 400 (invalid body) and no unknown route anywhere
    assert [r for r in fake.recorder.requests if r.status == 400] == []
    assert fake.recorder.unknown_routes() == []
    assert set(statuses) <= {"ok", "invalid"}, statuses
    assert statuses.get("ok", 0) > N // 2, statuses
    # the token appears nowhere: requests, messages, database, logs
    token = fake.token
    assert token not in fake.recorder.all_text_sent()
    assert not any(token in ev.content for ev in fake.recorder.message_events)
    assert not any(token in str(v) for r in rows for v in r.values())
    for f in db_path.parent.iterdir():
        assert token.encode() not in f.read_bytes(), f
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert token not in logged
    # hostile text reached the log intact (parameterized SQL, no mangling)
    prompts = {r["prompt"] for r in rows}
    assert "'; DROP TABLE requests; --" in prompts or "Robert'); DROP TABLE requests;--" in prompts
