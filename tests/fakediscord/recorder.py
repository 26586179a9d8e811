"""Everything the client sent to the fake Discord, with timestamps.

Two views:

* ``requests``: every HTTP request (method, route name, path, query, JSON body, status).
* ``message_events``: one entry per change to a visible message (interaction callback with a
  message, deferred "thinking" placeholder, edit of the original, follow-up, channel message),
  with its content, embeds, flags, allowed_mentions and the pings it would cause.

Timestamps are ``time.monotonic()`` seconds, comparable with ``InteractionTrace`` times.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .payloads import FLAG_EPHEMERAL, FLAG_LOADING, would_ping


@dataclass
class RecordedRequest:
    t: float
    method: str
    path: str  # without the /api/vN prefix
    route: str  # route name, e.g. "edit_original", "callback"; "unknown" when unmatched
    params: dict[str, str]  # path parameters
    query: dict[str, str]
    headers: dict[str, str]  # Authorization removed (see ``authorized``)
    authorized: bool | None  # None when the route needs no bot token
    body: Any  # parsed JSON body, raw text, or None
    raw_body: str = ""
    status: int = 0
    response: Any = None
    fault: str | None = None  # the fault injected instead of the normal answer, if any
    t_end: float = 0.0


@dataclass
class MessageEvent:
    t: float
    kind: str  # callback_message | deferred | edit_original | followup | edit_followup |
    # channel_message | edit_channel_message | delete
    message_id: str
    channel_id: str | None
    interaction_id: str | None
    content: str
    embeds: list[dict[str, Any]]
    flags: int
    allowed_mentions: dict[str, Any] | None
    request_body: dict[str, Any] = field(default_factory=dict)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & FLAG_LOADING)

    @property
    def visible_text(self) -> str:
        """Content plus embed titles/descriptions/fields (what a user reads)."""
        parts = [self.content]
        for e in self.embeds:
            parts += [e.get("title") or "", e.get("description") or ""]
            parts += [f"{f.get('name', '')} {f.get('value', '')}" for f in e.get("fields") or []]
            parts.append((e.get("footer") or {}).get("text") or "")
        return "\n".join(p for p in parts if p)

    @property
    def pings(self) -> list[str]:
        texts = [self.content]
        # Mentions in embeds never notify, so only content counts.
        return [p for t in texts for p in would_ping(t, self.allowed_mentions)]


class Recorder:
    """Append-only log of requests and message events; tests may wait on new entries."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.message_events: list[MessageEvent] = []
        self.gateway_events: list[tuple[float, str, Any]] = []  # (t, what, detail)
        self._listeners: list[Callable[[MessageEvent], None]] = []

    def add_request(self, req: RecordedRequest) -> None:
        self.requests.append(req)

    def add_message_event(self, ev: MessageEvent) -> None:
        self.message_events.append(ev)
        for listener in list(self._listeners):
            listener(ev)

    def add_gateway_event(self, what: str, detail: Any = None) -> None:
        self.gateway_events.append((time.monotonic(), what, detail))

    def subscribe(self, listener: Callable[[MessageEvent], None]) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    # ---- queries -------------------------------------------------------------------------

    def by_route(self, route: str, method: str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if r.route == route and (method is None or r.method == method.upper())
        ]

    def for_interaction(self, interaction_id: str) -> list[MessageEvent]:
        return [e for e in self.message_events if e.interaction_id == interaction_id]

    def heartbeat_gaps(self, since: float = 0.0) -> list[float]:
        """Seconds between consecutive heartbeats received (after ``since``). A client whose
        event loop is blocked sends its heartbeats late: large gaps show it."""
        times = [t for t, what, _ in self.gateway_events if what == "heartbeat" and t >= since]
        return [b - a for a, b in itertools.pairwise(times)]

    def unknown_routes(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.route == "unknown"]

    def all_text_sent(self) -> str:
        """Every string the client sent in any request body (for secret-leak checks)."""
        return "\n".join(r.raw_body for r in self.requests)

    def clear(self) -> None:
        self.requests.clear()
        self.message_events.clear()
        self.gateway_events.clear()
