"""The scaling benchmark (bench/scaling.py) at a toy size, and the fake's generated guilds it
rests on (tests/fakediscord/bulk.py). Nothing here depends on how fast the machine is: the
figures must be there and consistent, not of any size."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from bench.scaling import format_result, measure_size
from tests.fakediscord.bulk import MAX_CHANNELS, BulkGuilds
from tests.fakediscord.payloads import FakeUser

BOT = FakeUser(id="42", username="bot", bot=True)


def test_generated_guilds_are_seeded_routed_to_one_shard_each_and_shaped_as_drawn() -> None:
    a, b = BulkGuilds(400, seed=3), BulkGuilds(400, seed=3)
    assert a.specs == b.specs and a.specs != BulkGuilds(400, seed=4).specs
    assert len({g.id for g in a.specs}) == 400
    shards = [a.for_shard((i, 3)) for i in range(3)]
    assert Counter(g.id for s in shards for g in s) == Counter(g.id for g in a.specs)
    for i, shard in enumerate(shards):  # Discord's routing: (guild_id >> 22) % shard_count
        assert shard and all((g.id >> 22) % 3 == i for g in shard)
    sizes = a.summary()
    assert 12 <= sizes["channels"]["median"] <= 30 and 9 <= sizes["roles"]["median"] <= 22
    assert sizes["members"]["p99"] > 1000  # a heavy tail: some guilds of thousands
    for spec in a.specs[:40]:
        data = a.payload(spec, BOT)
        again = a.payload(spec, BOT)
        assert {**data, "version": 0} == {**again, "version": 0}  # the same at every IDENTIFY
        assert len(data["channels"]) == spec.channels <= MAX_CHANNELS
        assert len(data["roles"]) == spec.roles + 1  # and @everyone
        assert len(data["emojis"]) == spec.emojis
        assert data["member_count"] == spec.members and data["large"] == (spec.members > 250)
        assert [m["user"]["id"] for m in data["members"]] == [BOT.id]  # GUILDS intent only
        ids = [c["id"] for c in data["channels"]] + [r["id"] for r in data["roles"]]
        assert len(set(ids)) == len(ids)
        parents = {c["parent_id"] for c in data["channels"]} - {None}
        assert parents <= {c["id"] for c in data["channels"] if c["type"] == 4}


@pytest.mark.timeout(90)
async def test_benchmark_at_a_toy_size_reports_its_figures_and_stops(
    tiny_models_dir: Path, tmp_path: Path
) -> None:
    lines: list[str] = []
    r = await measure_size(
        60,
        models_dir=tiny_models_dir,
        workdir=tmp_path,
        per_shard=30,
        rates=[4.0],
        step_s=2.0,
        users=8,
        active=4,
        timeout_s=60.0,
        progress=lines.append,
    )
    assert r.problems == [], r.problems
    assert r.shards == 2 and r.guilds_sent == 60  # every guild reached the bot's two shards
    assert r.ready_s is not None and r.all_sent_s is not None and 0 < r.all_sent_s < r.ready_s
    assert r.identify_floor_s == 5.0 and r.cpu_at_ready_s is not None and r.cpu_at_ready_s > 0
    assert r.rss_ready_mb is not None and r.rss_after_load_mb is not None
    assert 30 < r.rss_ready_mb <= r.peak_rss_mb  # type: ignore[operator]
    assert r.fake_rss_mb is not None and r.fake_rss_mb > 0
    (step,) = r.steps
    assert step.rate == 4.0 and step.sent == step.answered == 8
    assert step.bot_cpu_s > 0 and step.fake_cpu_s > 0  # where the CPU went during the step
    assert all(math.isfinite(v) for v in (step.p50_first_s, step.p95_first_s, step.p95_final_s))
    assert r.sustained_rate == (4.0 if step.ok else 0.0)
    assert r.rows_logged == r.interactions == 8  # each one logged once, after a clean stop
    text = format_result(r)
    for figure in ("ready", "RSS at ready", "peak", "sustained", "8/8 logged"):
        assert figure in text, text
    assert any(line.startswith("  ready in") for line in lines)
    assert any(line.startswith("  4/s: 8/8 answered") for line in lines)
