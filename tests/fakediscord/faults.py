"""Fault injection for the fake Discord's REST side.

A ``Fault`` matches requests by route name (the route table of ``rest.py``), optionally by
method and by a predicate, and replaces (or delays) the normal answer ``times`` times
(``None``: for ever); ``apply_fault`` is what the server does with it. Gateway faults
(dropping the connection, RECONNECT, INVALID_SESSION, swallowing heartbeat ACKs) are methods
of ``fake.gateway`` (``gateway.py``) since they act on live sockets.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from aiohttp import web

FaultKind = Literal["429", "500", "502", "delay", "drop", "hold"]


@dataclass
class Fault:
    kind: FaultKind
    route: str | None = None  # None: every route
    method: str | None = None
    times: int | None = 1  # how many matching requests it hits; None = unlimited
    retry_after: float = 0.2  # for 429
    global_: bool = False  # for 429: a global rate limit
    scope: str = "user"  # X-RateLimit-Scope for 429: user | global | shared
    delay_s: float = 0.0  # for "delay" (added before the normal answer) and others
    predicate: Callable[[Any], bool] | None = None  # receives the RecordedRequest
    hits: int = 0
    hit_times: list[float] = field(default_factory=list)
    # for "hold": the request waits (unanswered) until ``release()``; ``arrived`` is set
    # when the first matching request is being held
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        """Let held requests be answered normally."""
        self.gate.set()

    def matches(self, route: str, method: str, request: Any) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.route is not None and self.route != route:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return self.predicate is None or bool(self.predicate(request))

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


class FaultPlan:
    """The faults currently armed. First matching fault wins."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def rate_limit(
        self,
        route: str,
        *,
        times: int | None = 1,
        retry_after: float = 0.2,
        method: str | None = None,
        global_: bool = False,
        predicate: Callable[[Any], bool] | None = None,
    ) -> Fault:
        return self.add(
            Fault(
                "429",
                route=route,
                method=method,
                times=times,
                retry_after=retry_after,
                global_=global_,
                scope="global" if global_ else "user",
                predicate=predicate,
            )
        )

    def server_error(
        self,
        route: str,
        *,
        times: int | None = 1,
        status: Literal["500", "502"] = "500",
        method: str | None = None,
        predicate: Callable[[Any], bool] | None = None,
    ) -> Fault:
        return self.add(Fault(status, route=route, method=method, times=times, predicate=predicate))

    def slow(
        self,
        route: str | None,
        delay_s: float,
        *,
        times: int | None = None,
        method: str | None = None,
        predicate: Callable[[Any], bool] | None = None,
    ) -> Fault:
        return self.add(
            Fault(
                "delay",
                route=route,
                method=method,
                times=times,
                delay_s=delay_s,
                predicate=predicate,
            )
        )

    def hold(
        self,
        route: str,
        *,
        times: int | None = 1,
        method: str | None = None,
        predicate: Callable[[Any], bool] | None = None,
    ) -> Fault:
        """Keep matching requests unanswered until ``fault.release()`` (then answer them
        normally): lets a test order its own steps against the client's requests."""
        return self.add(Fault("hold", route=route, method=method, times=times, predicate=predicate))

    def drop(self, route: str, *, times: int | None = 1, method: str | None = None) -> Fault:
        """Close the TCP connection without an answer."""
        return self.add(Fault("drop", route=route, method=method, times=times))

    def take(self, route: str, method: str, request: Any) -> Fault | None:
        for fault in self.faults:
            if fault.matches(route, method, request):
                fault.hits += 1
                fault.hit_times.append(time.monotonic())
                return fault
        return None

    def clear(self) -> None:
        self.faults.clear()


def rate_limit_headers(fault: Fault, bucket: str) -> dict[str, str]:
    """Headers of a 429 as Discord sends them (the ``Via`` header marks it as Discord's own,
    not a Cloudflare ban: discord.py raises instead of retrying without it)."""
    now = time.time()
    headers = {
        "Retry-After": str(max(1, int(fault.retry_after + 0.999))),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{now + fault.retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{fault.retry_after:.3f}",
        "X-RateLimit-Bucket": bucket,
        "X-RateLimit-Scope": fault.scope,
        "Via": "1.1 google",
    }
    if fault.global_:
        headers["X-RateLimit-Global"] = "true"
    return headers


def rate_limit_body(fault: Fault) -> dict[str, Any]:
    return {
        "message": "You are being rate limited.",
        "retry_after": fault.retry_after,
        "global": fault.global_,
        "code": 0,
    }


def route_bucket(route: str) -> str:
    """The ``X-RateLimit-Bucket`` of a route (one bucket per route name)."""
    return hashlib.sha1(route.encode()).hexdigest()[:16]


async def apply_fault(
    fault: Fault, request: web.Request, route: str
) -> tuple[int, Any, dict[str, str]] | None:
    """Carry out ``fault`` on a request to ``route``: ``None`` to answer normally (after a
    delay or a hold), else (status, body, headers); status 0: the connection was dropped."""
    if fault.kind == "delay":
        await asyncio.sleep(fault.delay_s)
        return None
    if fault.kind == "hold":
        fault.arrived.set()
        await fault.gate.wait()
        return None
    if fault.delay_s:
        await asyncio.sleep(fault.delay_s)
    if fault.kind == "429":
        return 429, rate_limit_body(fault), rate_limit_headers(fault, route_bucket(route))
    if fault.kind in ("500", "502"):
        code = int(fault.kind)
        msg = "500: Internal Server Error" if code == 500 else "502: Bad Gateway"
        return code, {"message": msg, "code": 0}, {}
    if fault.kind == "drop":
        if request.transport is not None:
            request.transport.abort()
        return 0, None, {}
    raise AssertionError(f"unknown fault {fault.kind}")
