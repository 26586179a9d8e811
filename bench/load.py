"""Load benchmark: the real bot against a fake Discord on 127.0.0.1.

    .venv/bin/python -m bench.load [--interactions 500] [--users 50] [--guilds 10]
                                   [--models exported_models] [--timeout 600]

500 interactions from 50 simulated users over 10 guilds, in bursts, all four generating
commands. Each simulated user waits for their reply before the next command (the bot allows
one generation per user at a time). Prints p50/p95 time to first visible text and to final
text, tokens/s, and checks that every interaction was answered once and logged once.
Loopback only, bounded in count and time; exits 0 when nothing was lost.

Models: ``--models`` (default exported_models/ if it holds models), else tiny models are
trained on the spot (needs the training extra: torch).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bot.products import BUILTIN
from tests.e2e.botharness import read_rows, running_bot
from tests.e2e.checks import finished
from tests.e2e.loadgen import LoadPlan, build_world, default_commands, run_load
from tests.fakediscord import FakeDiscord

REPO = Path(__file__).resolve().parents[1]
MODELS = tuple(p.model for p in BUILTIN)  # the models the built-in products run on


def _models_dir(arg: Path | None, tmp: Path) -> Path:
    if arg is not None:
        return arg
    shipped = REPO / "exported_models"
    missing = [m for m in MODELS if not (shipped / f"{m}.onnx").exists()]
    if not missing:
        return shipped
    print(f"exported_models/ lacks {', '.join(missing)}: training tiny models (seconds)...")
    from tests.tiny_corpora import build_tiny_models

    return build_tiny_models(tmp)


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp_name:
        tmp = Path(tmp_name)
        models = _models_dir(args.models, tmp)
        db_path = tmp / "requests.db"
        plan = LoadPlan(
            interactions=args.interactions,
            users=args.users,
            guilds=args.guilds,
            burst_size=args.burst,
            burst_gap_s=args.gap,
            settle_s=0.5,
            commands=default_commands(long=not args.short),
            per_interaction_timeout_s=min(args.timeout, 300),
            total_timeout_s=args.timeout,
        )
        env = {
            "BOT_EDIT_INTERVAL": str(args.edit_interval),
            "BOT_COOLDOWN_RATE": "0",
            "BOT_GUILD_CONCURRENCY": "0",
            "BOT_LOG_LEVEL": "WARNING",
        }
        async with FakeDiscord(heartbeat_interval_ms=1000) as fake:
            fake.done_rule = finished
            people, guilds = build_world(fake, users=plan.users, guilds=plan.guilds)
            print(f"models: {models}; fake Discord at {fake.origin}")
            t0 = time.monotonic()
            async with running_bot(fake, models, db_path, env=env) as rb:
                print(f"bot up in {time.monotonic() - t0:.1f} s; sending...")
                report = await run_load(
                    fake, plan, people=people, guilds=guilds, progress=lambda m: print("  " + m)
                )
                await rb.bot.request_log.flush()
                gaps = fake.recorder.heartbeat_gaps(since=t0)
            rows = read_rows(db_path)
        tokens = sum(r["tokens"] or 0 for r in rows)
        print()
        print(report.format(tokens=tokens))
        if any(r["tokens"] for r in rows):
            per_request = sorted(r["tokens"] / max(r["total_s"], 1e-9) for r in rows if r["tokens"])
            print(f"per request: median {per_request[len(per_request) // 2]:.0f} tokens/s")
        if gaps:
            print(
                f"gateway heartbeats every 1.0 s: longest gap {max(gaps):.2f} s "
                "(longer means the bot's event loop was blocked)"
            )
        statuses = Counter(r["status"] for r in rows)
        want = Counter((int(t.user.id), t.name) for t in report.traces)
        got = Counter((int(r["user_id"]), r["command"]) for r in rows)
        print(f"request log: {len(rows)} rows {dict(statuses)}")
        problems = []
        if len(report.traces) != plan.interactions:
            problems.append(f"only {len(report.traces)} of {plan.interactions} sent")
        if report.unanswered:
            problems.append(f"{len(report.unanswered)} unanswered")
        if report.double_acks:
            problems.append(f"{len(report.double_acks)} answered twice")
        if got != want:
            problems.append(
                f"log mismatch: {sum((want - got).values())} missing, "
                f"{sum((got - want).values())} extra"
            )
        if statuses.get("unavailable"):
            problems.append(f"{statuses['unavailable']} answered 'unavailable' (missing models)")
        if fake.recorder.unknown_routes():
            problems.append("unknown routes used")
        print("OK" if not problems else "PROBLEMS: " + "; ".join(problems))
        return 0 if not problems else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--interactions", type=int, default=500)
    p.add_argument("--users", type=int, default=50)
    p.add_argument("--guilds", type=int, default=10)
    p.add_argument("--burst", type=int, default=50, help="interactions per burst")
    p.add_argument("--gap", type=float, default=1.0, help="seconds between bursts")
    p.add_argument("--edit-interval", type=float, default=1.0)
    p.add_argument("--models", type=Path, default=None)
    p.add_argument("--short", action="store_true", help="short replies (as in the test suite)")
    p.add_argument("--timeout", type=float, default=600.0, help="hard limit for the run, s")
    args = p.parse_args()
    return asyncio.run(asyncio.wait_for(main_async(args), args.timeout + 120))


if __name__ == "__main__":
    sys.exit(main())
