"""Real-shaped Discord API objects (users, members, guilds, channels, messages, interactions).

Shapes follow the Discord API v10 documentation and what discord.py 2.x reads in
``discord/types/*.py``. Snowflakes are strings, timestamps ISO 8601 with a UTC offset.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000

# Channel types (subset)
GUILD_TEXT = 0
DM = 1
GROUP_DM = 3

# Interaction context types
CONTEXT_GUILD = 0
CONTEXT_BOT_DM = 1
CONTEXT_PRIVATE_CHANNEL = 2

# Application command option types
OPT_SUB_COMMAND = 1
OPT_SUB_COMMAND_GROUP = 2
OPT_STRING = 3
OPT_INTEGER = 4
OPT_BOOLEAN = 5
OPT_USER = 6
OPT_CHANNEL = 7
OPT_ROLE = 8
OPT_MENTIONABLE = 9
OPT_NUMBER = 10

# Message flags
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12

# A plausible default permission set for members/the bot ("Send Messages", "Use Slash Commands"...)
DEFAULT_PERMISSIONS = "2248473465835073"

_counter = itertools.count()
_counter_lock = threading.Lock()


def snowflake(at: float | None = None) -> str:
    """A fresh, unique, time-ordered snowflake (as Discord sends it: a decimal string)."""
    ms = int((time.time() if at is None else at) * 1000)
    with _counter_lock:
        increment = next(_counter) & 0xFFF
    return str(((ms - DISCORD_EPOCH_MS) << 22) | (1 << 17) | increment)


def iso_now(at: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if at is None else at, UTC).isoformat()


@dataclass(frozen=True)
class FakeUser:
    id: str
    username: str
    global_name: str | None = None
    bot: bool = False

    def to_payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "avatar_decoration_data": None,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "primary_guild": None,
            "collectibles": None,
        }
        if self.bot:
            data["bot"] = True
        return data

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass(frozen=True)
class FakeRole:
    id: str
    name: str
    guild_id: str
    permissions: str = DEFAULT_PERMISSIONS

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": None,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": 0,
            "permissions": self.permissions,
            "managed": False,
            "mentionable": True,
            "flags": 0,
        }

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"


@dataclass(frozen=True)
class FakeChannel:
    id: str
    name: str
    type: int = GUILD_TEXT
    guild_id: str | None = None
    recipients: tuple[FakeUser, ...] = ()

    def to_payload(self, *, permissions: str | None = None) -> dict[str, Any]:
        if self.type == GUILD_TEXT:
            data: dict[str, Any] = {
                "id": self.id,
                "type": self.type,
                "name": self.name,
                "guild_id": self.guild_id,
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
                "topic": None,
                "last_message_id": None,
                "rate_limit_per_user": 0,
                "flags": 0,
            }
        else:
            data = {
                "id": self.id,
                "type": self.type,
                "last_message_id": None,
                "flags": 0,
                "recipients": [u.to_payload() for u in self.recipients],
            }
            if self.type == GROUP_DM:
                data.update({"name": self.name, "icon": None, "owner_id": self.recipients[0].id})
        if permissions is not None:
            data["permissions"] = permissions
        return data


@dataclass
class FakeGuild:
    id: str
    name: str
    channels: list[FakeChannel] = field(default_factory=list)
    roles: list[FakeRole] = field(default_factory=list)
    members: list[FakeUser] = field(default_factory=list)
    locale: str = "en-US"

    @property
    def default_channel(self) -> FakeChannel:
        return self.channels[0]

    def everyone_role(self) -> FakeRole:
        return FakeRole(id=self.id, name="@everyone", guild_id=self.id)


def member_payload(user: FakeUser, *, roles: list[str] | None = None) -> dict[str, Any]:
    return {
        "user": user.to_payload(),
        "nick": None,
        "avatar": None,
        "banner": None,
        "roles": roles or [],
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
        "unusual_dm_activity_until": None,
        "permissions": DEFAULT_PERMISSIONS,
    }


def guild_create_payload(guild: FakeGuild, bot_user: FakeUser) -> dict[str, Any]:
    """A GUILD_CREATE dispatch body for a guild the bot is a member of."""
    roles = [guild.everyone_role(), *guild.roles]
    members = [member_payload(bot_user)] + [member_payload(u) for u in guild.members]
    return {
        "id": guild.id,
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": guild.members[0].id if guild.members else bot_user.id,
        "region": "deprecated",
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": guild.locale,
        "system_channel_id": guild.channels[0].id if guild.channels else None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "vanity_url_code": None,
        "max_members": 500000,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "application_id": None,
        "features": [],
        "roles": [r.to_payload() for r in roles],
        "emojis": [],
        "stickers": [],
        "soundboard_sounds": [],
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "large": False,
        "unavailable": False,
        "member_count": len(members),
        "voice_states": [],
        "members": members,
        "channels": [c.to_payload() for c in guild.channels],
        "threads": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "embedded_activities": [],
        "lazy": True,
        "version": int(time.time() * 1000),
    }


def message_payload(
    *,
    message_id: str,
    channel_id: str,
    author: FakeUser,
    content: str,
    embeds: list[dict[str, Any]],
    flags: int,
    guild_id: str | None = None,
    webhook_id: str | None = None,
    application_id: str | None = None,
    interaction_meta: dict[str, Any] | None = None,
    created_at: float | None = None,
    edited_at: float | None = None,
    components: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": 20 if interaction_meta is not None else 0,
        "content": content,
        "mentions": [],
        "mention_roles": [],
        "mention_everyone": False,
        "attachments": [],
        "embeds": embeds,
        "timestamp": iso_now(created_at),
        "edited_timestamp": iso_now(edited_at) if edited_at is not None else None,
        "flags": flags,
        "components": components or [],
        "id": message_id,
        "channel_id": channel_id,
        "author": author.to_payload(),
        "pinned": False,
        "tts": False,
    }
    if guild_id is not None:
        data["guild_id"] = guild_id
    if webhook_id is not None:
        data["webhook_id"] = webhook_id
    if application_id is not None:
        data["application_id"] = application_id
    if interaction_meta is not None:
        data["interaction_metadata"] = interaction_meta
    return data


_MENTION_USER = re.compile(r"<@!?(\d+)>")
_MENTION_ROLE = re.compile(r"<@&(\d+)>")
_MENTION_EVERYONE = re.compile(r"@(everyone|here)")


def would_ping(content: str, allowed_mentions: dict[str, Any] | None) -> list[str]:
    """The mentions in ``content`` that Discord would turn into notifications.

    Without ``allowed_mentions`` Discord parses everything (users, roles, @everyone/@here).
    Conservative: mentions inside code spans are counted too.
    """
    if allowed_mentions is None:
        parse = {"users", "roles", "everyone"}
        users: set[str] = set()
        roles: set[str] = set()
    else:
        parse = set(allowed_mentions.get("parse") or [])
        users = {str(u) for u in allowed_mentions.get("users") or []}
        roles = {str(r) for r in allowed_mentions.get("roles") or []}
    pings: list[str] = []
    if "everyone" in parse:
        pings += ["@" + m for m in _MENTION_EVERYONE.findall(content)]
    for uid in _MENTION_USER.findall(content):
        if "users" in parse or uid in users:
            pings.append(f"user:{uid}")
    for rid in _MENTION_ROLE.findall(content):
        if "roles" in parse or rid in roles:
            pings.append(f"role:{rid}")
    return pings


# ---------------------------------------------------------------------------------------
# Message validation, as Discord's API does it (error shapes of "Invalid Form Body").

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000


def _length_error(path: list[str], limit: int) -> tuple[list[str], dict[str, str]]:
    return path, {
        "code": "BASE_TYPE_MAX_LENGTH",
        "message": f"Must be {limit} or fewer in length.",
    }


def validate_message_body(body: dict[str, Any]) -> list[tuple[list[str], dict[str, str]]]:
    """Form errors for a message create/edit body (content, embeds, allowed_mentions)."""
    errors: list[tuple[list[str], dict[str, str]]] = []
    content = body.get("content")
    if content is not None:
        if not isinstance(content, str):
            errors.append((["content"], {"code": "STRING_TYPE_CONVERT", "message": "Not a string"}))
        elif len(content) > MAX_CONTENT:
            errors.append(_length_error(["content"], MAX_CONTENT))
    embeds = body.get("embeds")
    if embeds:
        if len(embeds) > MAX_EMBEDS:
            errors.append(_length_error(["embeds"], MAX_EMBEDS))
        total = 0
        for i, embed in enumerate(embeds):
            limits = {"title": 256, "description": 4096}
            for key, limit in limits.items():
                value = embed.get(key) or ""
                total += len(value)
                if len(value) > limit:
                    errors.append(_length_error(["embeds", str(i), key], limit))
            for j, fld in enumerate(embed.get("fields") or []):
                total += len(fld.get("name", "")) + len(fld.get("value", ""))
                if len(fld.get("name", "")) > 256:
                    errors.append(_length_error(["embeds", str(i), "fields", str(j), "name"], 256))
                if len(fld.get("value", "")) > 1024:
                    errors.append(
                        _length_error(["embeds", str(i), "fields", str(j), "value"], 1024)
                    )
            footer = (embed.get("footer") or {}).get("text") or ""
            total += len(footer)
            if len(footer) > 2048:
                errors.append(_length_error(["embeds", str(i), "footer", "text"], 2048))
        if total > MAX_EMBED_TOTAL:
            errors.append(_length_error(["embeds"], MAX_EMBED_TOTAL))
    am = body.get("allowed_mentions")
    if am is not None:
        parse = am.get("parse") or []
        bad = [p for p in parse if p not in ("users", "roles", "everyone")]
        if bad:
            errors.append(
                (["allowed_mentions", "parse"], {"code": "ENUM_TYPE_COERCE", "message": "bad"})
            )
        for kind in ("users", "roles"):
            if kind in parse and am.get(kind):
                errors.append(
                    (
                        ["allowed_mentions"],
                        {
                            "code": "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                            "message": f'parse:["{kind}"] and {kind}: [ids...] are exclusive.',
                        },
                    )
                )
    return errors


def form_error_body(errors: list[tuple[list[str], dict[str, str]]]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path, err in errors:
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append(err)
    return {"message": "Invalid Form Body", "code": 50035, "errors": tree}
