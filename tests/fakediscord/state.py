"""What the fake knows: its settings and addresses, the world (users, guilds, DM channels,
registered commands) and the records of interactions and messages.

``FakeState`` is the base of every part of :class:`~tests.fakediscord.server.FakeDiscord`:
the REST routes, the user simulator and the gateway all read and change this state.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .bulk import BulkGuilds
from .driver import InteractionTrace
from .faults import FaultPlan
from .gateway import FakeGateway
from .payloads import (
    DM,
    GROUP_DM,
    FakeChannel,
    FakeGuild,
    FakeRole,
    FakeUser,
    form_error_body,
    snowflake,
)
from .recorder import MessageEvent, Recorder


class ApiError(Exception):
    """Answer with a Discord-style JSON error."""

    def __init__(self, status: int, message: str, code: int = 0, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "code": code, **extra}


def form_error(errors: list[tuple[list[str], dict[str, str]]]) -> ApiError:
    """A 400 "Invalid Form Body" (code 50035) with Discord's nested ``errors`` tree."""
    body = form_error_body(errors)
    return ApiError(400, body["message"], body["code"], errors=body["errors"])


@dataclass
class StoredMessage:
    payload: dict[str, Any]
    interaction_id: str | None = None
    allowed_mentions: dict[str, Any] | None = None
    deleted: bool = False
    history: list[MessageEvent] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.payload["id"])


@dataclass
class FakeInteraction:
    id: str
    token: str
    type: int
    user: FakeUser
    guild: FakeGuild | None
    channel: FakeChannel
    payload: dict[str, Any]
    created: float  # monotonic
    response_type: int | None = None
    response_at: float | None = None
    original_id: str | None = None
    followup_ids: list[str] = field(default_factory=list)
    autocomplete_choices: list[dict[str, Any]] | None = None
    trace: InteractionTrace | None = None


class FakeState:
    """Settings, addresses, the world and the records (see the module docstring)."""

    def __init__(
        self,
        *,
        token: str | None = None,
        bot_name: str = "LSTM Scribe",
        heartbeat_interval_ms: int = 41_250,
        callback_deadline_s: float = 3.0,
        token_ttl_s: float = 15 * 60,
        shard_count: int = 1,
        latency_s: float = 0.0,
    ) -> None:
        # A token shaped like a real one (base64 id . timestamp . hmac)
        self.token = token or (
            "MTA"
            + secrets.token_urlsafe(21)
            + "."
            + secrets.token_urlsafe(4)
            + "."
            + secrets.token_urlsafe(28)
        )
        self.app_id = snowflake()
        self.bot_user = FakeUser(id=self.app_id, username=bot_name, bot=True)
        self.owner = FakeUser(id=snowflake(), username="owner", global_name="The Owner")
        self.application_flags = 0
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.callback_deadline_s = callback_deadline_s
        self.token_ttl_s = token_ttl_s
        self.shard_count = shard_count
        self.latency_s = latency_s

        self.guilds: dict[str, FakeGuild] = {}
        self.users: dict[str, FakeUser] = {}
        self.dm_channels: dict[str, FakeChannel] = {}
        self.interactions: dict[str, FakeInteraction] = {}
        self._by_token: dict[str, FakeInteraction] = {}
        self.messages: dict[str, StoredMessage] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[str, list[dict[str, Any]]] = {}
        # generated guilds for scaling benchmarks (bulk.py), besides ``guilds``
        self.bulk_guilds: BulkGuilds | None = None

        # default "finished" rule given to every InteractionTrace (see driver.wait_final)
        self.done_rule: Callable[[InteractionTrace], bool] | None = None
        self.recorder = Recorder()
        self.faults = FaultPlan()
        self.gateway = FakeGateway(self)
        self.port: int = 0

    # ---- addresses -------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The value for discord.py's ``Route.BASE`` (``.../api/v10``)."""
        return f"{self.origin}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/resume"

    def env(self) -> dict[str, str]:
        return {
            "DISCORD_API_BASE_URL": self.base_url,
            "DISCORD_GATEWAY_URL": self.gateway_url,
            "DISCORD_TOKEN": self.token,
        }

    # ---- world building --------------------------------------------------------------

    def add_user(self, username: str, *, global_name: str | None = None) -> FakeUser:
        user = FakeUser(id=snowflake(), username=username, global_name=global_name)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        channels: int = 1,
        members: list[FakeUser] | None = None,
        roles: list[str] | None = None,
        guild_id: str | None = None,
    ) -> FakeGuild:
        gid = guild_id or snowflake()
        guild = FakeGuild(id=gid, name=name, members=list(members or []))
        guild.channels = [
            FakeChannel(id=snowflake(), name=f"general-{i}" if i else "general", guild_id=gid)
            for i in range(channels)
        ]
        guild.roles = [FakeRole(id=snowflake(), name=r, guild_id=gid) for r in roles or []]
        self.guilds[gid] = guild
        return guild

    def dm_channel(self, user: FakeUser) -> FakeChannel:
        """The DM channel between ``user`` and the bot."""
        for ch in self.dm_channels.values():
            if ch.type == DM and ch.recipients == (user,):
                return ch
        ch = FakeChannel(id=snowflake(), name="", type=DM, recipients=(user,))
        self.dm_channels[ch.id] = ch
        return ch

    def group_dm(self, users: list[FakeUser], name: str = "group chat") -> FakeChannel:
        ch = FakeChannel(id=snowflake(), name=name, type=GROUP_DM, recipients=tuple(users))
        self.dm_channels[ch.id] = ch
        return ch

    def channel(self, channel_id: str) -> FakeChannel | None:
        for g in self.guilds.values():
            for ch in g.channels:
                if ch.id == channel_id:
                    return ch
        return self.dm_channels.get(channel_id)

    def commands_for(self, guild: FakeGuild | None) -> list[dict[str, Any]]:
        """Registered commands visible in ``guild`` (guild commands first, then global)."""
        cmds = list(self.guild_commands.get(guild.id, [])) if guild is not None else []
        return cmds + list(self.global_commands)
