"""The user simulator: build real-shaped INTERACTION_CREATE payloads and follow each
interaction to its final state.

``FakeDiscord.run_command(user=U, guild=G, name="poem", options={...})`` dispatches the
interaction and returns an ``InteractionTrace``; ``await trace.wait_final()`` waits until the
bot has answered and then stayed quiet for ``settle_s`` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .payloads import (
    CONTEXT_BOT_DM,
    CONTEXT_GUILD,
    CONTEXT_PRIVATE_CHANNEL,
    DEFAULT_PERMISSIONS,
    GROUP_DM,
    GUILD_TEXT,
    OPT_BOOLEAN,
    OPT_CHANNEL,
    OPT_INTEGER,
    OPT_NUMBER,
    OPT_ROLE,
    OPT_STRING,
    OPT_USER,
    FakeChannel,
    FakeGuild,
    FakeRole,
    FakeUser,
    member_payload,
    snowflake,
)
from .recorder import MessageEvent, RecordedRequest

if TYPE_CHECKING:
    from .state import FakeState


@dataclass
class InteractionTrace:
    """Everything that happened to one interaction, in order, with monotonic timestamps."""

    interaction_id: str
    token: str
    name: str
    options: dict[str, Any]
    user: FakeUser
    guild: FakeGuild | None
    channel: FakeChannel
    payload: dict[str, Any]
    dispatched_at: float
    callback_type: int | None = None
    callback_at: float | None = None
    callback_data: dict[str, Any] = field(default_factory=dict)
    events: list[MessageEvent] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _last_change: float = field(default=0.0, repr=False)
    in_flight: int = 0  # requests for this interaction being answered right now
    # what "finished" means for wait_final (default: answered); a bot-specific rule (e.g. "no
    # streaming cursor left") makes waiting robust when streaming edits stall under load
    done: Callable[[InteractionTrace], bool] | None = field(default=None, repr=False)

    # ---- fed by the server -----------------------------------------------------------

    def _touch(self) -> None:
        self._last_change = time.monotonic()
        self._changed.set()

    def set_callback(self, cb_type: int, t: float, data: dict[str, Any]) -> None:
        self.callback_type, self.callback_at, self.callback_data = cb_type, t, data
        self._touch()

    def add_event(self, ev: MessageEvent) -> None:
        self.events.append(ev)
        self._touch()

    def request_started(self) -> None:
        self.in_flight += 1
        self._touch()

    def add_request(self, rec: RecordedRequest) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        self.requests.append(rec)
        self._touch()

    # ---- views -----------------------------------------------------------------------

    @property
    def acknowledged(self) -> bool:
        return self.callback_type is not None

    @property
    def deferred(self) -> bool:
        return self.callback_type == 5

    @property
    def messages(self) -> dict[str, MessageEvent]:
        """Latest state of every message of this interaction, by id, in creation order
        (deleted messages dropped)."""
        out: dict[str, MessageEvent] = {}
        for ev in self.events:
            if ev.kind == "delete":
                out.pop(ev.message_id, None)
            else:
                out[ev.message_id] = ev
        return out

    @property
    def final_messages(self) -> list[MessageEvent]:
        return [m for m in self.messages.values() if not m.loading]

    @property
    def final_text(self) -> str:
        """The visible text of every message of the interaction, joined by blank lines."""
        return "\n\n".join(m.visible_text for m in self.final_messages)

    @property
    def ephemeral(self) -> bool:
        """Whether every visible message of the interaction is ephemeral."""
        msgs = self.final_messages
        return bool(msgs) and all(m.ephemeral for m in msgs)

    @property
    def edits(self) -> list[MessageEvent]:
        return [e for e in self.events if e.kind in ("edit_original", "edit_followup")]

    @property
    def first_text_at(self) -> float | None:
        for ev in self.events:
            if not ev.loading and ev.visible_text.strip():
                return ev.t
        return None

    @property
    def final_at(self) -> float | None:
        visible = [e.t for e in self.events if not e.loading]
        return visible[-1] if visible else None

    @property
    def time_to_first_text(self) -> float | None:
        t = self.first_text_at
        return None if t is None else t - self.dispatched_at

    @property
    def time_to_final(self) -> float | None:
        t = self.final_at
        return None if t is None else t - self.dispatched_at

    @property
    def failed_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.status >= 400]

    @property
    def answered(self) -> bool:
        """Acknowledged and showing at least one non-loading message."""
        return self.acknowledged and bool(self.final_messages)

    def summary(self) -> str:
        return (
            f"/{self.name} {self.options!r}: callback={self.callback_type} "
            f"events={[(e.kind, e.content[:40]) for e in self.events]} "
            f"failed={[(r.route, r.status) for r in self.failed_requests]}"
        )

    # ---- waiting ---------------------------------------------------------------------

    async def wait_for(
        self, predicate: Callable[[InteractionTrace], bool], timeout: float = 30.0
    ) -> InteractionTrace:
        async def _wait() -> None:
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(_wait(), timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"timed out after {timeout}s: {self.summary()}") from exc
        return self

    async def wait_final(
        self,
        *,
        settle_s: float = 1.5,
        timeout: float = 30.0,
        done: Callable[[InteractionTrace], bool] | None = None,
    ) -> InteractionTrace:
        """Wait until the interaction is answered (a visible, non-loading message) and
        ``done`` (or ``self.done``) holds, then until nothing has changed for ``settle_s``."""
        deadline = time.monotonic() + timeout
        rule = done or self.done

        def finished(t: InteractionTrace) -> bool:
            return t.answered and (rule is None or rule(t))

        await self.wait_for(finished, timeout)
        while True:
            quiet_for = time.monotonic() - self._last_change
            # quiet, and still finished: a reply may look done for a moment (a full page
            # just before its next message appears) and then go on
            if quiet_for >= settle_s and self.in_flight == 0 and finished(self):
                return self
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"never settled within {timeout}s: {self.summary()}")
            self._changed.clear()
            with _suppress_timeout():
                wait_s = max(settle_s - quiet_for, 0.05)
                await asyncio.wait_for(self._changed.wait(), min(wait_s, remaining))


class _suppress_timeout:
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool:
        return exc_type is TimeoutError


# ---------------------------------------------------------------------------------------
# Payload building

_PY_TYPES: list[tuple[type, int]] = [
    (bool, OPT_BOOLEAN),
    (int, OPT_INTEGER),
    (float, OPT_NUMBER),
    (str, OPT_STRING),
    (FakeUser, OPT_USER),
    (FakeRole, OPT_ROLE),
    (FakeChannel, OPT_CHANNEL),
]


def _schema_for(
    fake: FakeState, guild: FakeGuild | None, name: str, command_type: int = 1
) -> dict[str, Any] | None:
    for cmd in fake.commands_for(guild):
        if cmd["name"] == name and cmd.get("type", 1) == command_type:
            return cmd
    return None


def _option_value(value: Any, opt_type: int) -> Any:
    if isinstance(value, FakeUser | FakeRole | FakeChannel):
        return value.id
    if opt_type == OPT_INTEGER and isinstance(value, float) and value.is_integer():
        return int(value)
    if opt_type == OPT_NUMBER and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def build_options(
    fake: FakeState,
    guild: FakeGuild | None,
    schema: dict[str, Any] | None,
    options: dict[str, Any],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Option list + ``resolved`` for an application command interaction. Types come from
    the registered command (if synced) or from the Python value."""
    declared = {o["name"]: o for o in (schema or {}).get("options") or []}
    out: list[dict[str, Any]] = []
    resolved: dict[str, dict[str, Any]] = {}
    for key, value in options.items():
        if key in declared:
            opt_type = int(declared[key]["type"])
        else:
            opt_type = next((t for cls, t in _PY_TYPES if isinstance(value, cls)), OPT_STRING)
        out.append({"name": key, "type": opt_type, "value": _option_value(value, opt_type)})
        if isinstance(value, FakeUser):
            resolved.setdefault("users", {})[value.id] = value.to_payload()
            if guild is not None:
                member = member_payload(value)
                member.pop("user")
                resolved.setdefault("members", {})[value.id] = member
        elif isinstance(value, FakeRole):
            resolved.setdefault("roles", {})[value.id] = value.to_payload()
        elif isinstance(value, FakeChannel):
            resolved.setdefault("channels", {})[value.id] = {
                **value.to_payload(),
                "permissions": DEFAULT_PERMISSIONS,
            }
    return out, resolved


def build_interaction_payload(
    fake: FakeState,
    *,
    interaction_id: str,
    token: str,
    user: FakeUser,
    guild: FakeGuild | None,
    channel: FakeChannel,
    name: str,
    options: dict[str, Any],
    raw_options: list[dict[str, Any]] | None = None,
    locale: str = "en-US",
    interaction_type: int = 2,
    user_installed: bool = False,
    permissions: int | None = None,
    target: FakeUser | None = None,
) -> dict[str, Any]:
    """An INTERACTION_CREATE body for an application command (type 2) or autocomplete (4).
    ``permissions``: the member's permission bits in the channel (default: a plain member's).
    ``target``: the member a user context-menu command (command type 2) is used on."""
    command_type = 1 if target is None else 2
    schema = _schema_for(fake, guild, name, command_type)
    opts, resolved = build_options(fake, guild, schema, options)
    if raw_options is not None:
        opts = raw_options
    data: dict[str, Any] = {
        "id": schema["id"] if schema else snowflake(),
        "name": name,
        "type": command_type,
    }
    if target is not None:  # a user command: the target, resolved like a user option
        data["target_id"] = target.id
        _, resolved = build_options(fake, guild, None, {"target": target})
    if opts:
        data["options"] = opts
    if resolved:
        data["resolved"] = resolved
    if schema is not None and schema.get("guild_id"):
        data["guild_id"] = schema["guild_id"]

    if channel.type == GUILD_TEXT:
        context = CONTEXT_GUILD
    elif channel.type == GROUP_DM or (channel.recipients and user not in channel.recipients):
        context = CONTEXT_PRIVATE_CHANNEL
    else:
        context = CONTEXT_BOT_DM
    owners: dict[str, str] = {}
    if guild is not None and not user_installed:
        owners["0"] = guild.id
    else:
        owners["1"] = user.id
    payload: dict[str, Any] = {
        "id": interaction_id,
        "application_id": fake.app_id,
        "type": interaction_type,
        "data": data,
        "channel_id": channel.id,
        "channel": channel.to_payload(permissions=DEFAULT_PERMISSIONS),
        "token": token,
        "version": 1,
        "app_permissions": DEFAULT_PERMISSIONS,
        "locale": locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "authorizing_integration_owners": owners,
        "context": context,
        "attachment_size_limit": 10 * 1024 * 1024,
    }
    if guild is not None:
        payload["guild_id"] = guild.id
        payload["guild"] = {"id": guild.id, "locale": guild.locale, "features": []}
        payload["guild_locale"] = guild.locale
        payload["member"] = member_payload(user)
        if permissions is not None:
            payload["member"]["permissions"] = str(permissions)
    else:
        payload["user"] = user.to_payload()
    return payload
