"""Scaling benchmark: one bot process, several shards, many realistic guilds (fake Discord).

    .venv/bin/python -m bench.scaling --guilds 10000 --guilds 50000 --guilds 150000
        [--per-shard 2500] [--seed 1] [--rates 2,4,8,16,32,64] [--step-s 20] [--users 200]
        [--active 50] [--models exported_models] [--timeout 540] [--json out.json]

For each size: a fake Discord on 127.0.0.1 holding that many guilds (sizes drawn by
``tests/fakediscord/bulk.py`` from the stated distributions, ``--seed``), and ``python -m bot
run`` as a separate process with ``BOT_SHARD_COUNT = ceil(guilds / per-shard)``. Measured from
outside the bot: time from spawn to ready (its heartbeat file, touched once the gateway is up
on every shard; 1 s resolution), its resident memory (VmRSS; peak VmHWM) and CPU seconds, then
interactions per second: steps of evenly spaced commands (the four generating ones, bench-sized
replies) at each rate in ``--rates`` for ``--step-s`` seconds, from ``--users`` users in
``--active`` guilds, until a step's p95 time to first visible text (the first edit) reaches
1 s or a command goes unanswered. The sustained rate is the last step under 1 s.

Each size stops by itself within ``--timeout`` seconds (then says how far it got) and the bot
is stopped with SIGTERM. Exit status 0 when every size got ready and nothing was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.load import _models_dir
from tests.e2e.botharness import bot_env, bot_subprocess, read_rows
from tests.e2e.checks import finished
from tests.e2e.loadgen import LoadPlan, default_commands, run_load
from tests.fakediscord import FakeDiscord, FakeGuild, FakeUser
from tests.fakediscord.bulk import BulkGuilds, fake_guild

TARGET_P95_S = 1.0
RATES = [2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
IDENTIFY_GAP_S = 5.0  # discord.py waits this long before each shard's IDENTIFY but the first


@dataclass
class Step:
    rate: float  # interactions offered per second
    sent: int
    answered: int
    wall_s: float
    p50_first_s: float
    p95_first_s: float
    p95_ack_s: float
    p95_final_s: float
    bot_cpu_s: float = 0.0  # CPU seconds the bot process used during the step
    fake_cpu_s: float = 0.0  # ... and this process (fake Discord + load generator)

    @property
    def ok(self) -> bool:
        return self.answered == self.sent > 0 and self.p95_first_s < TARGET_P95_S


@dataclass
class SizeResult:
    guilds: int
    shards: int
    seed: int
    sizes: dict[str, dict[str, float]]
    ready_s: float | None = None  # spawn -> heartbeat file
    all_sent_s: float | None = None  # spawn -> the fake sent the last shard's guilds
    guilds_sent: int = 0  # GUILD_CREATEs the fake sent (all shards)
    identify_floor_s: float = 0.0  # discord.py's pacing alone
    cpu_at_ready_s: float | None = None
    rss_ready_mb: float | None = None
    rss_after_load_mb: float | None = None
    peak_rss_mb: float | None = None
    fake_rss_mb: float | None = None
    steps: list[Step] = field(default_factory=list)
    sustained_rate: float = 0.0
    rows_logged: int = 0
    interactions: int = 0
    problems: list[str] = field(default_factory=list)
    wall_s: float = 0.0


class ProcWatch:
    """Samples a process's VmRSS, VmHWM and CPU seconds from /proc (Linux)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_rss_mb = 0.0

    def _status(self, key: str, pid: int | str) -> float:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def rss_mb(self) -> float:
        rss = self._status("VmRSS", self.pid)
        self.peak_rss_mb = max(self.peak_rss_mb, self._status("VmHWM", self.pid))
        return rss

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def own_rss_mb(self) -> float:
        return self._status("VmRSS", "self")


def _world(
    fake: FakeDiscord, bulk: BulkGuilds, users: int, active: int
) -> tuple[list[FakeUser], list[FakeGuild]]:
    """``users`` users, user j in the j % active'th of ``active`` drawn guilds (loadgen's rule)."""
    people = [fake.add_user(f"user{i:04d}") for i in range(users)]
    guilds = []
    for a, spec in enumerate(bulk.specs[:active]):
        guild = fake_guild(spec, [u for j, u in enumerate(people) if j % active == a])
        fake.guilds[guild.id] = guild
        guilds.append(guild)
    return people, guilds


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, math.ceil(q / 100 * len(values)) - 1)]


async def _step(
    fake: FakeDiscord,
    rate: float,
    step_s: float,
    people: list[FakeUser],
    guilds: list[FakeGuild],
    budget_s: float,
    seed: int,
) -> Step:
    plan = LoadPlan(
        interactions=max(1, round(rate * step_s)),
        users=len(people),
        guilds=len(guilds),
        burst_size=1,
        burst_gap_s=1.0 / rate,
        commands=default_commands(long=True),
        seed=seed,
        settle_s=0.5,
        per_interaction_timeout_s=min(120.0, budget_s),
        total_timeout_s=budget_s,
    )
    report = await run_load(fake, plan, people=people, guilds=guilds)
    done = report.answered
    acks = [t.callback_at - t.dispatched_at for t in done if t.callback_at is not None]
    return Step(
        rate=rate,
        sent=plan.interactions,
        answered=len(done),
        wall_s=report.wall_s,
        p50_first_s=_pct([t.time_to_first_text or math.inf for t in done], 50),
        p95_first_s=_pct([t.time_to_first_text or math.inf for t in done], 95),
        p95_ack_s=_pct(acks, 95),
        p95_final_s=_pct([t.time_to_final or math.inf for t in done], 95),
    )


async def _sweep(
    fake: FakeDiscord,
    result: SizeResult,
    rates: list[float],
    step_s: float,
    people: list[FakeUser],
    guilds: list[FakeGuild],
    deadline: float,
    watch: ProcWatch,
    progress: Callable[[str], None],
) -> None:
    """Steps at rising rates until one misses the target; then one step halfway between
    the last rate that met it and the one that missed (the figure's resolution)."""
    todo, refined = list(rates), False
    while todo:
        rate = todo.pop(0)
        budget = deadline - time.monotonic() - 20  # leave time to stop the bot
        if budget < step_s + 10:
            result.problems.append(f"out of time before the {rate:g}/s step")
            return
        seed = result.seed * 100 + len(result.steps)
        cpu0, own0 = watch.cpu_s(), time.process_time()
        step = await _step(fake, rate, step_s, people, guilds, budget, seed)
        step.bot_cpu_s, step.fake_cpu_s = watch.cpu_s() - cpu0, time.process_time() - own0
        result.steps.append(step)
        result.interactions += step.sent
        progress(
            f"  {rate:g}/s: {step.answered}/{step.sent} answered, first edit p50 "
            f"{step.p50_first_s:.2f} s p95 {step.p95_first_s:.2f} s, ack p95 "
            f"{step.p95_ack_s:.2f} s, final p95 {step.p95_final_s:.1f} s; CPU s bot "
            f"{step.bot_cpu_s:.0f}, fake {step.fake_cpu_s:.0f} in {step.wall_s:.0f} s"
        )
        if step.ok:
            result.sustained_rate = max(result.sustained_rate, rate)
        elif refined or result.sustained_rate == 0:
            return
        else:
            todo, refined = [(result.sustained_rate + rate) / 2], True


async def measure_size(
    guilds: int,
    *,
    models_dir: Path,
    workdir: Path,
    seed: int = 1,
    per_shard: int = 2500,
    rates: list[float] | None = None,
    step_s: float = 20.0,
    users: int = 200,
    active: int = 50,
    timeout_s: float = 540.0,
    progress: Callable[[str], None] = print,
) -> SizeResult:
    """One size: fake world, bot process, ready, memory, load steps; bounded by ``timeout_s``."""
    t_start = time.monotonic()
    deadline = t_start + timeout_s
    bulk = BulkGuilds(guilds, seed=seed)
    shards = math.ceil(guilds / per_shard)
    result = SizeResult(guilds=guilds, shards=shards, seed=seed, sizes=bulk.summary())
    result.identify_floor_s = IDENTIFY_GAP_S * (shards - 1)
    db_path, heartbeat = workdir / "requests.db", workdir / "ready"
    async with FakeDiscord() as fake:
        fake.done_rule = finished
        fake.bulk_guilds = bulk
        people, active_guilds = _world(fake, bulk, users, min(active, guilds))
        env = bot_env(
            fake,
            models_dir,
            db_path,
            {
                "BOT_SHARD_COUNT": str(shards),
                "BOT_HEARTBEAT_FILE": str(heartbeat),
                "BOT_HEARTBEAT_INTERVAL": "1",
                "BOT_EDIT_INTERVAL": "1.0",
                "BOT_LOG_FLUSH_INTERVAL": "0.25",
                "BOT_LOG_LEVEL": "WARNING",
                "BOT_SHUTDOWN_GRACE": "10",
            },
        )
        async with bot_subprocess(["sync"], env, workdir / "sync.log") as sync:
            if await sync.wait(120) != 0:
                result.problems.append("sync failed: " + sync.output()[-300:])
                return result
        t0 = time.monotonic()
        async with bot_subprocess(["run"], env, workdir / "bot.log") as bot:
            watch = ProcWatch(bot.proc.pid)
            while time.monotonic() < deadline and bot.proc.returncode is None:
                if result.all_sent_s is None and fake.gateway.identifies >= shards:
                    result.all_sent_s = time.monotonic() - t0
                if heartbeat.exists():
                    result.ready_s = time.monotonic() - t0
                    result.cpu_at_ready_s = watch.cpu_s()
                    break
                watch.rss_mb()
                await asyncio.sleep(0.2)
            result.guilds_sent = sum(s.seq - 1 for s in fake.gateway.sessions.values())
            if result.ready_s is None:
                why = "exited" if bot.proc.returncode is not None else f"not in {timeout_s:.0f} s"
                result.problems.append(
                    f"not ready ({why}): {fake.gateway.identifies}/{shards} shards identified, "
                    f"{result.guilds_sent} guilds sent, RSS {watch.rss_mb():.0f} MB, "
                    f"CPU {watch.cpu_s():.0f} s; "
                    f"log: {bot.output()[-300:]!r}"
                )
                result.peak_rss_mb = watch.peak_rss_mb
            else:
                progress(f"  ready in {result.ready_s:.1f} s; RSS {watch.rss_mb():.0f} MB")
                await asyncio.sleep(2.0)  # let the last GUILD_CREATEs' garbage go
                result.rss_ready_mb = watch.rss_mb()
                await _sweep(
                    fake,
                    result,
                    rates or RATES,
                    step_s,
                    people,
                    active_guilds,
                    deadline,
                    watch,
                    progress,
                )
                result.rss_after_load_mb = watch.rss_mb()
                result.peak_rss_mb = watch.peak_rss_mb
                result.fake_rss_mb = watch.own_rss_mb()
            if bot.proc.returncode is None:
                bot.signal(signal.SIGTERM)
                try:
                    code = await bot.wait(60)
                except TimeoutError:
                    code = None
                    result.problems.append("the bot did not stop within 60 s of SIGTERM")
                if code not in (0, None) and result.ready_s is not None:
                    result.problems.append(f"the bot exited with {code}: {bot.output()[-300:]!r}")
    result.rows_logged = len(read_rows(db_path))
    if result.rows_logged != result.interactions:
        result.problems.append(f"{result.rows_logged} rows logged for {result.interactions} sent")
    result.wall_s = time.monotonic() - t_start
    return result


def format_result(r: SizeResult) -> str:
    mb = lambda v: "-" if v is None else f"{v:.0f} MB"  # noqa: E731
    s = lambda v: "-" if v is None else f"{v:.1f} s"  # noqa: E731
    sz = r.sizes
    lines = [
        f"{r.guilds} guilds, {r.shards} shard(s), seed {r.seed}: channels median "
        f"{sz['channels']['median']:g} (p99 {sz['channels']['p99']:g}), roles median "
        f"{sz['roles']['median']:g} (p99 {sz['roles']['p99']:g}), members median "
        f"{sz['members']['median']:g} (p99 {sz['members']['p99']:g}, max {sz['members']['max']:g})",
        f"  ready {s(r.ready_s)} (guilds all sent {s(r.all_sent_s)}; IDENTIFY pacing alone "
        f"{r.identify_floor_s:.0f} s), CPU at ready {s(r.cpu_at_ready_s)}",
        f"  RSS at ready {mb(r.rss_ready_mb)}, after load {mb(r.rss_after_load_mb)}, "
        f"peak {mb(r.peak_rss_mb)} (the fake and load generator: {mb(r.fake_rss_mb)})",
        f"  sustained {r.sustained_rate:g} interactions/s at p95 first edit < {TARGET_P95_S:g} s; "
        f"{r.rows_logged}/{r.interactions} logged; wall {r.wall_s:.0f} s",
    ]
    lines += [f"  PROBLEM: {p}" for p in r.problems]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    results = []
    for n in args.guilds:
        with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp_name:
            tmp = Path(tmp_name)
            models = _models_dir(args.models, tmp)
            print(f"{n} guilds (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
            r = await measure_size(
                n,
                models_dir=models,
                workdir=tmp,
                seed=args.seed,
                per_shard=args.per_shard,
                rates=[float(x) for x in args.rates.split(",")],
                step_s=args.step_s,
                users=args.users,
                active=args.active,
                timeout_s=args.timeout,
            )
            print(format_result(r), flush=True)
            results.append(r)
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    return 0 if all(not r.problems for r in results) else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--guilds", type=int, action="append", required=True)
    p.add_argument("--per-shard", type=int, default=2500, help="guilds per shard (at most)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rates", default="2,4,8,16,32,64", help="interactions/s steps, rising")
    p.add_argument("--step-s", type=float, default=20.0)
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--active", type=int, default=50, help="guilds the users are in")
    p.add_argument("--models", type=Path, default=None)
    p.add_argument("--timeout", type=float, default=540.0, help="limit per size, s")
    p.add_argument("--json", type=Path, default=None)
    return asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
