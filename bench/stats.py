"""/stats benchmark: the request log's statistics queries on a large log.

    .venv/bin/python -m bench.stats [--rows 400000] [--days 7] [--guilds 50] [--users 5000]
                                    [--repeat 5] [--seed 0]

Builds a log of ``--rows`` requests spread over ``--days`` days (a few big servers and many
small ones, heavy and light users, every command and status, realistic latencies) in a
temporary file, then times each /stats view on the bot's read-only connection: the
server-wide view of the busiest server, a heavy user's own figures in it, a user's own
figures everywhere (a DM), and all servers at once (``python -m bot stats``). It also times
a flush of 100 rows while a server-wide view runs, since reads and writes use separate
connections. Prints the median and worst of ``--repeat`` runs; exits 1 if a /stats view
takes more than 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from bot.storage import RequestLog, RequestRow

TARGET_S = 1.0
COMMANDS = [("lovecraft", 3), ("poem", 3), ("name", 4), ("story", 2), ("models", 1), ("stats", 1)]
STATUSES = [("ok", 90), ("refused", 5), ("invalid", 2), ("busy", 1), ("cancelled", 1), ("error", 1)]


def build(path: Path, rows: int, days: float, guilds: int, users: int, seed: int) -> None:
    """Write ``rows`` synthetic requests with plain sqlite3 (the schema comes from the bot)."""
    rng = random.Random(seed)
    now = time.time()
    guild_ids: list[int | None] = [10**17 + g for g in range(guilds)]
    user_ids = [2 * 10**17 + u for u in range(users)]
    # Zipf-like: a few big servers (10% of requests in DMs) and a few heavy users
    guild_of = rng.choices([*guild_ids, None], [*(1 / (g + 1) for g in range(guilds)), 0.5], k=rows)
    user_of = rng.choices(user_ids, [1 / (u + 1) ** 0.8 for u in range(users)], k=rows)
    command_of = rng.choices([c for c, _ in COMMANDS], [w for _, w in COMMANDS], k=rows)
    status_of = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES], k=rows)

    def row(i: int) -> tuple[object, ...]:
        ok = status_of[i] == "ok"
        total = rng.lognormvariate(0.3, 0.6) if ok else rng.random() * 0.05
        return (
            now - rng.random() * days * 86400,
            guild_of[i],
            rng.randrange(10**17, 10**18),
            user_of[i],
            command_of[i],
            "lovecraft",
            '{"seed": 1}',
            "The night was dark",
            "and the wind howled over the hills " * 8,
            rng.randrange(20, 400),
            total / 5 if ok else None,
            total,
            status_of[i],
            None,
        )

    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO requests (created_at, guild_id, channel_id, user_id, command, model, "
            "params, prompt, output, tokens, first_token_s, total_s, status, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row(i) for i in range(rows)),
        )


async def _time(repeat: int, make: object) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = await make()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times), result


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-stats-") as tmp:
        path = Path(tmp) / "requests.db"
        await (await RequestLog.open(path)).close()  # schema and indexes, as the bot makes them
        start = time.perf_counter()
        build(path, args.rows, args.days, args.guilds, args.users, args.seed)
        built = time.perf_counter() - start
        print(f"built {args.rows:,} rows over {args.days:g} days in {built:.1f} s")
        with sqlite3.connect(path) as db:
            guild, in_guild = db.execute(
                "SELECT guild_id, COUNT(*) FROM requests WHERE guild_id IS NOT NULL "
                "GROUP BY guild_id ORDER BY 2 DESC LIMIT 1"
            ).fetchone()
            user = Counter(
                u
                for (u,) in db.execute("SELECT user_id FROM requests WHERE guild_id = ?", (guild,))
            ).most_common(1)[0][0]
        print(f"busiest server: {in_guild:,} rows; its busiest user: {user}")

        rl = await RequestLog.open(path, flush_interval=0.05)
        views = {
            "server-wide, busiest server": dict(guild_id=guild),
            "own figures in that server": dict(guild_id=guild, user_id=user),
            "own figures everywhere (DM)": dict(user_id=user),
        }
        worst = 0.0
        try:
            for label, scope in views.items():
                median, slowest, summary = await _time(
                    args.repeat, lambda s=scope: rl.summary(args.days, **s)
                )
                worst = max(worst, slowest)
                total = summary.total  # type: ignore[attr-defined]
                print(
                    f"{label:32s} {median:6.3f} s median, {slowest:6.3f} s worst ({total:,} rows)"
                )
            median, slowest, _ = await _time(1, lambda: rl.summary(args.days))
            print(f"{'all servers (CLI, not /stats)':32s} {median:6.3f} s")

            reading = asyncio.create_task(rl.summary(args.days, guild_id=guild))
            await asyncio.sleep(0)
            start = time.perf_counter()
            for i in range(100):
                rl.log(RequestRow(user_id=i, command="poem", status="ok"))
            assert await rl.flush()
            flushed = time.perf_counter() - start
            await reading
            print(f"flush of 100 rows during a server-wide view: {flushed:.3f} s")
        finally:
            await rl.close()
    verdict = "met" if worst <= TARGET_S else "MISSED"
    print(f"slowest /stats view {worst:.3f} s: target <= {TARGET_S:g} s {verdict}")
    return 0 if worst <= TARGET_S else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--guilds", type=int, default=50)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
