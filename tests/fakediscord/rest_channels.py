"""REST: who the bot is and where it writes. Gateway discovery (``/gateway/bot`` answers
``shard_count``), the bot user and other users, the application, DM channels, channels and
the bot's own channel messages (sent, edited, deleted) and typing."""

from __future__ import annotations

import secrets
import time
from typing import Any

from aiohttp import web

from .messages import MessageStore
from .payloads import FLAG_EPHEMERAL, FLAG_SUPPRESS_NOTIFICATIONS, GROUP_DM
from .recorder import RecordedRequest
from .state import ApiError


class ChannelRoutes(MessageStore):
    """The handlers of ``/gateway``, ``/users``, ``/applications/@me`` and ``/channels``."""

    async def _get_gateway(self, *_: Any) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url.rstrip("/")}

    async def _get_gateway_bot(self, *_: Any) -> tuple[int, Any]:
        return 200, {
            "url": self.gateway_url.rstrip("/"),
            "shards": self.shard_count,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
        }

    async def _get_me(self, *_: Any) -> tuple[int, Any]:
        return 200, {**self.bot_user.to_payload(), "verified": True, "mfa_enabled": True}

    async def _get_user(self, _r: web.Request, _rec: RecordedRequest, p: dict[str, str]) -> Any:
        user = self.users.get(p["user_id"]) or (
            self.bot_user if p["user_id"] == self.bot_user.id else None
        )
        if user is None:
            raise ApiError(404, "Unknown User", 10013)
        return 200, user.to_payload()

    async def _create_dm(self, _r: web.Request, rec: RecordedRequest, _p: dict[str, str]) -> Any:
        uid = str((rec.body or {}).get("recipient_id"))
        user = self.users.get(uid)
        if user is None:
            raise ApiError(400, "Invalid Recipient(s)", 50033)
        return 200, self.dm_channel(user).to_payload()

    async def _app_info(self, *_: Any) -> tuple[int, Any]:
        return 200, {
            "id": self.app_id,
            "name": self.bot_user.username,
            "icon": None,
            "description": "A fake application",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": secrets.token_hex(32),
            "owner": self.owner.to_payload(),
            "team": None,
            "flags": self.application_flags,
            "bot": self.bot_user.to_payload(),
            "tags": [],
            "install_params": {"scopes": ["bot", "applications.commands"], "permissions": "0"},
            "integration_types_config": {"0": {}, "1": {}},
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": len(self.guilds),
            "rpc_origins": [],
        }

    async def _get_channel(self, _r: web.Request, _rec: RecordedRequest, p: dict[str, str]) -> Any:
        ch = self.channel(p["channel_id"])
        if ch is None:
            raise ApiError(404, "Unknown Channel", 10003)
        return 200, ch.to_payload()

    async def _channel_message(
        self, _r: web.Request, rec: RecordedRequest, p: dict[str, str]
    ) -> Any:
        ch = self.channel(p["channel_id"])
        if ch is None:
            raise ApiError(404, "Unknown Channel", 10003)
        if ch.type == GROUP_DM:
            raise ApiError(403, "Missing Access", 50001)
        body = self._check_body(rec.body)
        if self._is_empty(body):
            raise ApiError(400, "Cannot send an empty message", 50006)
        flags = int(body.get("flags") or 0)
        if flags & ~(4 | FLAG_SUPPRESS_NOTIFICATIONS):
            raise ApiError(
                400,
                "Invalid Form Body",
                50035,
                errors={
                    "flags": {
                        "_errors": [{"code": "MESSAGE_FLAGS_INVALID", "message": "Invalid flags"}]
                    }
                },
            )
        stored = self._new_message(channel=ch, body=body, flags=flags, it=None)
        self._event("channel_message", stored, body, time.monotonic())
        return 200, stored.payload

    async def _edit_channel_message(
        self, _r: web.Request, rec: RecordedRequest, p: dict[str, str]
    ) -> Any:
        stored = self.messages.get(p["message_id"])
        if stored is None or stored.deleted or stored.payload["channel_id"] != p["channel_id"]:
            raise ApiError(404, "Unknown Message", 10008)
        body = self._check_body(rec.body)
        self._apply_edit(stored, body)
        self._event("edit_channel_message", stored, body, time.monotonic())
        return 200, stored.payload

    async def _delete_channel_message(
        self, _r: web.Request, _rec: RecordedRequest, p: dict[str, str]
    ) -> Any:
        """The bot deletes one of its messages with its own token (not in a group DM, which a
        bot cannot reach; ephemeral messages are not channel messages)."""
        ch = self.channel(p["channel_id"])
        if ch is not None and ch.type == GROUP_DM:
            raise ApiError(403, "Missing Access", 50001)
        stored = self.messages.get(p["message_id"])
        if (
            stored is None
            or stored.deleted
            or stored.payload["channel_id"] != p["channel_id"]
            or stored.payload["flags"] & FLAG_EPHEMERAL
        ):
            raise ApiError(404, "Unknown Message", 10008)
        stored.deleted = True
        self._event("delete", stored, None, time.monotonic())
        return 204, None

    async def _typing(self, _r: web.Request, _rec: RecordedRequest, p: dict[str, str]) -> Any:
        if self.channel(p["channel_id"]) is None:
            raise ApiError(404, "Unknown Channel", 10003)
        return 204, None
