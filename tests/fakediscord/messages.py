"""Messages as Discord keeps them: created by a callback, a follow-up or a channel post,
edited (the deferral's "thinking" flag cleared, ``edited_timestamp`` set), deleted; every
visible change recorded as a :class:`MessageEvent` in the recorder and in the traces of the
interactions concerned. Shared by the REST routes and the user simulator.
"""

from __future__ import annotations

import time
from typing import Any

from .payloads import (
    FLAG_LOADING,
    FakeChannel,
    FakeUser,
    message_payload,
    snowflake,
    validate_message_body,
)
from .recorder import MessageEvent
from .state import ApiError, FakeInteraction, FakeState, StoredMessage, form_error


class MessageStore(FakeState):
    """The message bookkeeping of :class:`FakeState`."""

    def _interaction_by_token(self, app_id: str, token: str) -> FakeInteraction:
        it = self._by_token.get(token)
        if it is None or app_id != self.app_id:
            raise ApiError(404, "Unknown Webhook", 10015)
        if time.monotonic() - it.created > self.token_ttl_s:
            raise ApiError(401, "Invalid Webhook Token", 50027)
        return it

    @staticmethod
    def _check_body(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "400: Bad Request", 50109)
        errors = validate_message_body(body)
        if errors:
            raise form_error(errors)
        return body

    @staticmethod
    def _is_empty(msg: dict[str, Any]) -> bool:
        return not (
            msg.get("content")
            or msg.get("embeds")
            or msg.get("components")
            or msg.get("attachments")
            or msg.get("poll")
            or msg.get("sticker_ids")
        )

    def _new_message(
        self,
        *,
        channel: FakeChannel,
        body: dict[str, Any],
        flags: int,
        it: FakeInteraction | None,
        author: FakeUser | None = None,
    ) -> StoredMessage:
        interaction_meta = None
        if it is not None:
            interaction_meta = {
                "id": it.id,
                "type": it.type,
                "user": it.user.to_payload(),
                "authorizing_integration_owners": it.payload.get(
                    "authorizing_integration_owners", {}
                ),
                "name": it.payload.get("data", {}).get("name"),
            }
        payload = message_payload(
            message_id=snowflake(),
            channel_id=channel.id,
            author=author or self.bot_user,
            content=body.get("content") or "",
            embeds=list(body.get("embeds") or []),
            flags=flags,
            guild_id=channel.guild_id,
            webhook_id=self.app_id if it is not None else None,
            application_id=self.app_id if it is not None else None,
            interaction_meta=interaction_meta,
            components=body.get("components"),
        )
        stored = StoredMessage(
            payload=payload,
            interaction_id=it.id if it else None,
            allowed_mentions=body.get("allowed_mentions"),
        )
        self.messages[stored.id] = stored
        return stored

    def _apply_edit(self, stored: StoredMessage, body: dict[str, Any]) -> None:
        msg = stored.payload
        was_loading = bool(msg["flags"] & FLAG_LOADING)
        new = dict(msg)
        if "content" in body:
            new["content"] = body["content"] or ""
        if "embeds" in body:
            new["embeds"] = list(body["embeds"] or [])
        if "components" in body:
            new["components"] = list(body["components"] or [])
        if "attachments" in body:
            new["attachments"] = list(body["attachments"] or [])
        if self._is_empty(new):
            raise ApiError(400, "Cannot send an empty message", 50006)
        if "allowed_mentions" in body:
            stored.allowed_mentions = body["allowed_mentions"]
        new["flags"] = msg["flags"] & ~FLAG_LOADING
        if not was_loading:
            new["edited_timestamp"] = message_payload(
                message_id="0",
                channel_id="0",
                author=self.bot_user,
                content="",
                embeds=[],
                flags=0,
                edited_at=time.time(),
            )["edited_timestamp"]
        stored.payload = new

    def _event(
        self,
        kind: str,
        stored: StoredMessage,
        body: dict[str, Any] | None,
        t: float,
        *,
        via: FakeInteraction | None = None,
    ) -> MessageEvent:
        """Record a change of ``stored``, in the trace of the interaction that made the
        message and, if another one (``via``, e.g. a button press) changed it, in that one's."""
        msg = stored.payload
        ev = MessageEvent(
            t=t,
            kind=kind,
            message_id=stored.id,
            channel_id=msg.get("channel_id"),
            interaction_id=stored.interaction_id,
            content=msg.get("content") or "",
            embeds=list(msg.get("embeds") or []),
            flags=int(msg.get("flags") or 0),
            allowed_mentions=stored.allowed_mentions,
            request_body=dict(body or {}),
        )
        stored.history.append(ev)
        self.recorder.add_message_event(ev)
        if stored.interaction_id is not None:
            it = self.interactions.get(stored.interaction_id)
            if it is not None and it.trace is not None:
                it.trace.add_event(ev)
        if via is not None and via.trace is not None and via.id != stored.interaction_id:
            via.trace.add_event(ev)
        return ev

    # ---- route handlers --------------------------------------------------------------

    def _original(self, it: FakeInteraction) -> StoredMessage:
        if it.original_id is None:
            raise ApiError(404, "Unknown Message", 10008)
        stored = self.messages.get(it.original_id)
        if stored is None or stored.deleted:
            raise ApiError(404, "Unknown Message", 10008)
        return stored

    def _followup_message(self, it: FakeInteraction, message_id: str) -> StoredMessage:
        stored = self.messages.get(message_id)
        if stored is None or stored.deleted or stored.interaction_id != it.id:
            raise ApiError(404, "Unknown Message", 10008)
        return stored
