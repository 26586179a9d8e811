"""Aggregates over the request log, as /stats, /server-stats and ``python -m bot stats`` show
them; every scope (a server, a user, everything) reads a covering index."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from bot.storage.backend import Connection


@dataclass(frozen=True)
class Summary:
    """Aggregates over the request log, as shown by /stats and ``python -m bot stats``."""

    days: float | None
    total: int
    by_command: list[tuple[str, int, int]]  # command, requests, of which status ok
    by_status: dict[str, int]
    top_users: list[tuple[int, int]]  # user id, requests (empty for one user's figures)
    latency_p50_s: float | None  # total latency of successful requests
    latency_p95_s: float | None
    first_token_p50_s: float | None

    def render(self, *, mention_users: bool = False, title: str = "Requests") -> str:
        span = f"last {self.days:g} days" if self.days is not None else "all time"
        if self.total == 0:
            return f"No requests logged ({span})."
        lines = [f"{title} ({span}): {self.total}"]
        lines += [f"  /{cmd}: {n} ({ok} ok)" for cmd, n, ok in self.by_command]
        lines.append("Status: " + ", ".join(f"{k} {v}" for k, v in sorted(self.by_status.items())))
        lines.append(
            f"Latency: median {_secs(self.latency_p50_s)}, p95 {_secs(self.latency_p95_s)}, "
            f"first text median {_secs(self.first_token_p50_s)}"
        )
        if self.top_users:
            users = [(f"<@{u}>" if mention_users else str(u), n) for u, n in self.top_users]
            lines.append("Top users: " + ", ".join(f"{u} ({n})" for u, n in users))
        return "\n".join(lines)


def _secs(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}s"


async def summarize(
    db: Connection,
    days: float | None = None,
    *,
    guild_id: int | None = None,
    user_id: int | None = None,
    top: int = 5,
    now: float | None = None,
) -> Summary:
    """Figures over the last ``days`` (None: all time), for one server and/or one user
    (None: every server / every user). Top users are listed only when no user is given."""
    since = -math.inf if days is None else (time.time() if now is None else now) - days * 86400
    where, args = "created_at >= ?", [since]
    if guild_id is not None:
        where, args = f"guild_id = ? AND {where}", [guild_id, *args]
    if user_id is not None:
        where, args = f"user_id = ? AND {where}", [user_id, *args]

    by_command: dict[str, list[int]] = {}
    by_status: dict[str, int] = {}
    for command, status, n in await db.fetch(
        f"SELECT command, status, COUNT(*) FROM requests WHERE {where} GROUP BY command, status",
        args,
    ):
        counts = by_command.setdefault(str(command), [0, 0])
        counts[0] += int(n)
        counts[1] += int(n) if status == "ok" else 0
        by_status[str(status)] = by_status.get(str(status), 0) + int(n)
    top_users: list[tuple[int, int]] = []
    if user_id is None and by_status:
        top_users = [
            (int(u), int(n))
            for u, n in await db.fetch(
                f"SELECT user_id, COUNT(*) FROM requests WHERE {where} GROUP BY user_id "
                "ORDER BY COUNT(*) DESC, user_id LIMIT ?",
                [*args, top],
            )
        ]

    async def percentiles(column: str, *qs: float) -> list[float | None]:
        """Nearest-rank percentiles of ``column`` over successful requests."""
        timed = f"FROM requests WHERE {where} AND status = 'ok' AND {column} IS NOT NULL"
        n = 0
        if by_status.get("ok"):
            n = int(next(iter(await db.fetch(f"SELECT COUNT(*) {timed}", args)))[0])
        out: list[float | None] = []
        for q in qs:
            rows = []
            if n:
                rank = max(1, math.ceil(q * n))
                sql = f"SELECT {column} {timed} ORDER BY {column} LIMIT 1 OFFSET ?"
                rows = list(await db.fetch(sql, [*args, rank - 1]))
            out.append(float(rows[0][0]) if rows else None)
        return out

    p50, p95 = await percentiles("total_s", 0.50, 0.95)
    (first_p50,) = await percentiles("first_token_s", 0.50)
    ordered = sorted(by_command.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return Summary(
        days=days,
        total=sum(by_status.values()),
        by_command=[(c, n, ok) for c, (n, ok) in ordered],
        by_status=by_status,
        top_users=top_users,
        latency_p50_s=p50,
        latency_p95_s=p95,
        first_token_p50_s=first_p50,
    )
