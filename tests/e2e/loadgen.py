"""Load generation against the fake Discord: many simulated users in many guilds running
commands in bursts, with a report of what came back (used by the suite and bench/load.py)."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakediscord import FakeDiscord, FakeGuild, FakeUser, InteractionTrace

OptionsFactory = Callable[[random.Random], dict[str, Any]]


@dataclass
class LoadPlan:
    interactions: int = 500
    users: int = 50
    guilds: int = 10
    burst_size: int = 25  # interactions dispatched back to back
    burst_gap_s: float = 0.5  # pause between bursts
    commands: dict[str, OptionsFactory] = field(default_factory=dict)  # name -> options
    seed: int = 1234
    settle_s: float = 1.5
    per_interaction_timeout_s: float = 120.0
    total_timeout_s: float = 600.0


@dataclass
class LoadReport:
    plan: LoadPlan
    traces: list[InteractionTrace]
    wall_s: float
    unanswered: list[InteractionTrace]
    double_acks: list[InteractionTrace]  # callback accepted more than once / 40060 seen
    errors: list[str]

    @property
    def answered(self) -> list[InteractionTrace]:
        return [t for t in self.traces if t.answered]

    def _times(self, attr: str) -> list[float]:
        return [v for t in self.answered if (v := getattr(t, attr)) is not None]

    def percentiles(self, attr: str) -> tuple[float, float]:
        values = sorted(self._times(attr))
        if not values:
            return float("nan"), float("nan")
        return _pct(values, 50), _pct(values, 95)

    def by_command(self) -> Counter[str]:
        return Counter(t.name for t in self.traces)

    def format(self, tokens: int | None = None) -> str:
        p50f, p95f = self.percentiles("time_to_first_text")
        p50t, p95t = self.percentiles("time_to_final")
        lines = [
            f"interactions: {len(self.traces)} ({dict(self.by_command())}) from "
            f"{self.plan.users} users in {self.plan.guilds} guilds, wall {self.wall_s:.1f} s",
            f"answered: {len(self.answered)}, unanswered: {len(self.unanswered)}, "
            f"answered twice: {len(self.double_acks)}",
            f"time to first visible text: p50 {p50f:.2f} s, p95 {p95f:.2f} s",
            f"time to final text:         p50 {p50t:.2f} s, p95 {p95t:.2f} s",
        ]
        if tokens is not None:
            lines.append(f"tokens: {tokens}, {tokens / self.wall_s:.1f} tokens/s overall")
        lines += [f"error: {e}" for e in self.errors[:20]]
        return "\n".join(lines)


def _pct(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def build_world(
    fake: FakeDiscord, *, users: int, guilds: int
) -> tuple[list[FakeUser], list[FakeGuild]]:
    people = [fake.add_user(f"user{i:03d}", global_name=f"User {i}") for i in range(users)]
    worlds = []
    for g in range(guilds):
        members = [u for i, u in enumerate(people) if i % guilds == g]
        worlds.append(fake.add_guild(f"Guild {g}", members=members, channels=2))
    return people, worlds


async def run_load(
    fake: FakeDiscord,
    plan: LoadPlan,
    *,
    people: list[FakeUser],
    guilds: list[FakeGuild],
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    """Dispatch ``plan.interactions`` commands in bursts (user i lives in guild i % guilds),
    then wait for each to settle. Bounded by ``plan.total_timeout_s``."""
    rng = random.Random(plan.seed)
    names = sorted(plan.commands)
    traces: list[InteractionTrace] = []
    errors: list[str] = []
    t0 = time.monotonic()
    deadline = t0 + plan.total_timeout_s
    waiters: list[asyncio.Task[Any]] = []

    # a simulated user waits for their reply before sending the next command (the bot allows
    # one generation per user at a time); latency is measured from each actual dispatch
    user_busy = {u.id: asyncio.Lock() for u in people}

    async def one(i: int, name: str, options: dict[str, Any]) -> None:
        user = people[i % len(people)]
        guild = guilds[i % len(people) % len(guilds)]
        async with user_busy[user.id]:
            if time.monotonic() > deadline:
                errors.append(f"#{i} never sent: out of time")
                return
            trace = await fake.run_command(
                user=user,
                guild=guild,
                channel=guild.channels[i % len(guild.channels)],
                name=name,
                options=options,
            )
            traces.append(trace)
            timeout = max(1.0, min(plan.per_interaction_timeout_s, deadline - time.monotonic()))
            try:
                await trace.wait_final(settle_s=plan.settle_s, timeout=timeout)
            except TimeoutError as exc:
                errors.append(str(exc)[:300])

    sent = 0
    while sent < plan.interactions and time.monotonic() < deadline:
        for _ in range(min(plan.burst_size, plan.interactions - sent)):
            name = names[sent % len(names)]
            waiters.append(asyncio.create_task(one(sent, name, plan.commands[name](rng))))
            sent += 1
        if progress is not None:
            done = sum(t.answered for t in traces)
            progress(f"queued {sent}/{plan.interactions}, dispatched {len(traces)}, done {done}")
        await asyncio.sleep(plan.burst_gap_s)
    if waiters:
        await asyncio.wait(waiters, timeout=max(1.0, deadline - time.monotonic() + 5))
    for w in waiters:
        w.cancel()
    wall = time.monotonic() - t0
    double = [
        t
        for t in traces
        if sum(1 for r in t.requests if r.route == "callback" and r.status < 300) > 1
        or any(
            r.response and isinstance(r.response, dict) and r.response.get("code") == 40060
            for r in t.requests
        )
    ]
    return LoadReport(
        plan=plan,
        traces=traces,
        wall_s=wall,
        unanswered=[t for t in traces if not t.answered],
        double_acks=double,
        errors=errors,
    )


PROMPTS = ["The old house", "In the night", "Beyond the hills", "It was said that", "The sea"]


def default_commands(*, long: bool = False) -> dict[str, OptionsFactory]:
    """All four generating commands with varied options (``long``: bench-sized replies)."""
    lengths = [200, 400, 800] if long else [60, 120]
    story_lengths = [40, 80] if long else [15, 30]
    return {
        "lovecraft": lambda rng: {"prompt": rng.choice(PROMPTS), "length": rng.choice(lengths)},
        "poem": lambda rng: {"first_line": rng.choice(PROMPTS)} if rng.random() < 0.5 else {},
        "name": lambda rng: {"count": rng.randint(1, 6)},
        "story": lambda rng: {
            "seed_words": rng.choice(["a fox and a crow", "the lion", "a wolf"]),
            "length": rng.choice(story_lengths),
        },
    }
