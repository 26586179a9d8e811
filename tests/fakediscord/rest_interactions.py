"""REST: how the bot answers an interaction. The callback (within the 3 s deadline, once:
types allowed per interaction type, ``with_response``), then the webhook routes of its token
(valid for 15 minutes): the original response and follow-ups, read, edited and deleted."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .messages import MessageStore
from .payloads import FLAG_EPHEMERAL, FLAG_LOADING, FLAG_SUPPRESS_NOTIFICATIONS
from .recorder import RecordedRequest
from .state import ApiError, StoredMessage, form_error


class InteractionRoutes(MessageStore):
    """The handlers of ``/interactions/{id}/{token}/callback`` and
    ``/webhooks/{app}/{token}/...``."""

    async def _callback(self, _r: web.Request, rec: RecordedRequest, p: dict[str, str]) -> Any:
        it = self.interactions.get(p["interaction_id"])
        if it is None or it.token != p["token"]:
            raise ApiError(404, "Unknown interaction", 10062)
        if it.response_type is not None:
            raise ApiError(400, "Interaction has already been acknowledged.", 40060)
        if time.monotonic() - it.created > self.callback_deadline_s:
            raise ApiError(404, "Unknown interaction", 10062)
        body = rec.body
        if not isinstance(body, dict) or "type" not in body:
            raise ApiError(400, "400: Bad Request", 50109)
        cb_type = int(body["type"])
        data = body.get("data") or {}
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}.get(it.type, set())
        if cb_type not in allowed:
            raise ApiError(400, "Interaction response type is invalid for this interaction", 40061)
        stored: StoredMessage | None = None
        t = time.monotonic()
        if cb_type == 4:
            self._check_body(data)
            if self._is_empty(data):
                raise ApiError(400, "Cannot send an empty message", 50006)
            flags = int(data.get("flags") or 0) & (FLAG_EPHEMERAL | FLAG_SUPPRESS_NOTIFICATIONS)
            stored = self._new_message(channel=it.channel, body=data, flags=flags, it=it)
        elif cb_type == 5:
            flags = FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL)
            stored = self._new_message(channel=it.channel, body={}, flags=flags, it=it)
        elif cb_type == 7:  # UPDATE_MESSAGE: edit the message the component is on
            self._check_body(data)
            stored = self._original(it)
            self._apply_edit(stored, data)
        elif cb_type == 8:
            choices = data.get("choices") or []
            if len(choices) > 25:
                raise form_error(
                    [
                        (
                            ["data", "choices"],
                            {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 25 or fewer."},
                        )
                    ]
                )
            it.autocomplete_choices = choices
        it.response_type = cb_type
        it.response_at = t
        if stored is not None:
            it.original_id = stored.id
            kind = {4: "callback_message", 5: "deferred", 7: "update"}[cb_type]
            self._event(kind, stored, data, t, via=it)
        if it.trace is not None:
            it.trace.set_callback(cb_type, t, data)
        if rec.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        msg = stored.payload if stored is not None else None
        answer: dict[str, Any] = {
            "interaction": {
                "id": it.id,
                "type": it.type,
                "response_message_id": msg["id"] if msg else None,
                "response_message_loading": bool(msg and msg["flags"] & FLAG_LOADING),
                "response_message_ephemeral": bool(msg and msg["flags"] & FLAG_EPHEMERAL),
            },
            "resource": {"type": cb_type},
        }
        if msg is not None:
            answer["resource"]["message"] = msg
        return 200, answer

    async def _get_original(self, _r: web.Request, _rec: RecordedRequest, p: dict[str, str]) -> Any:
        it = self._interaction_by_token(p["app_id"], p["token"])
        return 200, self._original(it).payload

    async def _edit_original(self, _r: web.Request, rec: RecordedRequest, p: dict[str, str]) -> Any:
        it = self._interaction_by_token(p["app_id"], p["token"])
        body = self._check_body(rec.body)
        stored = self._original(it)
        self._apply_edit(stored, body)
        self._event("edit_original", stored, body, time.monotonic(), via=it)
        return 200, stored.payload

    async def _delete_original(
        self, _r: web.Request, _rec: RecordedRequest, p: dict[str, str]
    ) -> Any:
        it = self._interaction_by_token(p["app_id"], p["token"])
        stored = self._original(it)
        stored.deleted = True
        self._event("delete", stored, None, time.monotonic())
        return 204, None

    async def _followup(self, _r: web.Request, rec: RecordedRequest, p: dict[str, str]) -> Any:
        it = self._interaction_by_token(p["app_id"], p["token"])
        if it.response_type is None:
            raise ApiError(404, "Unknown Webhook", 10015)
        body = self._check_body(rec.body)
        t = time.monotonic()
        original = self.messages.get(it.original_id or "")
        loading = original is not None and original.payload["flags"] & FLAG_LOADING
        if original is not None and loading and not original.deleted:
            # Discord: the first follow-up after a deferral replaces the "thinking" message
            # (and keeps the deferral's ephemeral flag); once that is deleted, a follow-up
            # is a new message with its own flags.
            self._apply_edit(original, body)
            if "allowed_mentions" not in body:
                original.allowed_mentions = None
            self._event("followup", original, body, t)
            stored = original
        else:
            if self._is_empty(body):
                raise ApiError(400, "Cannot send an empty message", 50006)
            flags = int(body.get("flags") or 0) & (FLAG_EPHEMERAL | FLAG_SUPPRESS_NOTIFICATIONS)
            stored = self._new_message(channel=it.channel, body=body, flags=flags, it=it)
            it.followup_ids.append(stored.id)
            self._event("followup", stored, body, t)
        if rec.query.get("wait") in ("1", "true", "True"):
            return 200, stored.payload
        return 204, None

    async def _get_followup(self, _r: web.Request, _rec: RecordedRequest, p: dict[str, str]) -> Any:
        it = self._interaction_by_token(p["app_id"], p["token"])
        return 200, self._followup_message(it, p["message_id"]).payload

    async def _edit_followup(self, _r: web.Request, rec: RecordedRequest, p: dict[str, str]) -> Any:
        it = self._interaction_by_token(p["app_id"], p["token"])
        body = self._check_body(rec.body)
        stored = self._followup_message(it, p["message_id"])
        self._apply_edit(stored, body)
        kind = "edit_original" if stored.id == it.original_id else "edit_followup"
        self._event(kind, stored, body, time.monotonic())
        return 200, stored.payload

    async def _delete_followup(
        self, _r: web.Request, _rec: RecordedRequest, p: dict[str, str]
    ) -> Any:
        it = self._interaction_by_token(p["app_id"], p["token"])
        stored = self._followup_message(it, p["message_id"])
        stored.deleted = True
        self._event("delete", stored, None, time.monotonic())
        return 204, None
