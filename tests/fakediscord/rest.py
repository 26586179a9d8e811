"""The fake's REST side: the route table (every route the fake answers, by name: the names
recorded in ``RecordedRequest.route`` and matched by faults) and the plumbing each request
goes through: record it, match a route (404, 405), check the bot token, apply the latency
and any armed fault, call the handler, answer with Discord's headers and error shapes.

Answers use ``Content-Type: application/json`` exactly (discord.py's ``json_or_text`` parses
nothing else) and Discord's error shapes (``{"message", "code", "errors"}``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .driver import InteractionTrace
from .faults import apply_fault, route_bucket
from .recorder import RecordedRequest
from .rest_channels import ChannelRoutes
from .rest_commands import CommandRoutes
from .rest_interactions import InteractionRoutes
from .state import ApiError

JSON_HEADERS = {"Content-Type": "application/json"}
_PREFIX = re.compile(r"^/api(?:/v\d+)?")
_COMMANDS = r"/applications/(?P<app_id>\d+)/commands"
_GUILD_COMMANDS = r"/applications/(?P<app_id>\d+)/guilds/(?P<guild_id>\d+)/commands"
_HOOK = r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)"
_CHANNEL = r"/channels/(?P<channel_id>\d+)"

Handler = Callable[[web.Request, RecordedRequest, dict[str, str]], Awaitable[tuple[int, Any]]]


@dataclass
class Route:
    name: str
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool  # needs ``Authorization: Bot <token>`` (webhook routes are keyed by token)


class RestServer(InteractionRoutes, CommandRoutes, ChannelRoutes):
    """The route table over the handlers of the ``rest_*`` modules, and the plumbing."""

    @functools.cached_property
    def routes(self) -> list[Route]:
        table: list[tuple[str, str, str, Handler, bool]] = [
            ("get_gateway", "GET", r"/gateway", self._get_gateway, False),
            ("get_gateway_bot", "GET", r"/gateway/bot", self._get_gateway_bot, True),
            ("get_me", "GET", r"/users/@me", self._get_me, True),
            ("create_dm", "POST", r"/users/@me/channels", self._create_dm, True),
            ("get_user", "GET", r"/users/(?P<user_id>\d+)", self._get_user, True),
            ("app_info", "GET", r"/oauth2/applications/@me", self._app_info, True),
            ("app_info", "GET", r"/applications/@me", self._app_info, True),
            ("global_commands", "GET", _COMMANDS, self._get_commands, True),
            ("bulk_global_commands", "PUT", _COMMANDS, self._put_commands, True),
            ("guild_commands", "GET", _GUILD_COMMANDS, self._get_commands, True),
            ("bulk_guild_commands", "PUT", _GUILD_COMMANDS, self._put_commands, True),
            (
                "callback",
                "POST",
                r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback",
                self._callback,
                False,
            ),
            ("get_original", "GET", _HOOK + "/messages/@original", self._get_original, False),
            ("edit_original", "PATCH", _HOOK + "/messages/@original", self._edit_original, False),
            (
                "delete_original",
                "DELETE",
                _HOOK + "/messages/@original",
                self._delete_original,
                False,
            ),
            ("followup", "POST", _HOOK, self._followup, False),
            (
                "get_followup",
                "GET",
                _HOOK + r"/messages/(?P<message_id>\d+)",
                self._get_followup,
                False,
            ),
            (
                "edit_followup",
                "PATCH",
                _HOOK + r"/messages/(?P<message_id>\d+)",
                self._edit_followup,
                False,
            ),
            (
                "delete_followup",
                "DELETE",
                _HOOK + r"/messages/(?P<message_id>\d+)",
                self._delete_followup,
                False,
            ),
            ("get_channel", "GET", _CHANNEL, self._get_channel, True),
            ("channel_message", "POST", _CHANNEL + "/messages", self._channel_message, True),
            (
                "edit_channel_message",
                "PATCH",
                _CHANNEL + r"/messages/(?P<message_id>\d+)",
                self._edit_channel_message,
                True,
            ),
            (
                "delete_channel_message",
                "DELETE",
                _CHANNEL + r"/messages/(?P<message_id>\d+)",
                self._delete_channel_message,
                True,
            ),
            ("typing", "POST", _CHANNEL + "/typing", self._typing, True),
        ]
        return [
            Route(name, method, re.compile("^" + pattern + "$"), handler, auth)
            for name, method, pattern, handler, auth in table
        ]

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        path_matched = False
        for route in self.routes:
            m = route.pattern.match(path)
            if m is None:
                continue
            path_matched = True
            if route.method == method:
                return route, m.groupdict()
        if path_matched:
            raise ApiError(405, "405: Method Not Allowed")
        return None, {}

    async def _entry(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.gateway.handle(request)
        t0 = time.monotonic()
        path = _PREFIX.sub("", request.path) or "/"
        raw, body = await self._read_body(request)
        auth = request.headers.get("Authorization")
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        rec = RecordedRequest(
            t=t0,
            method=request.method,
            path=path,
            route="unknown",
            params={},
            query=dict(request.query),
            headers=headers,
            authorized=None,
            body=body,
            raw_body=raw,
        )
        self.recorder.add_request(rec)
        status, out = 500, None
        extra_headers: dict[str, str] = {}
        try:
            route, params = self._match(request.method, path)
            if route is None:
                raise ApiError(404, "404: Not Found")
            rec.route, rec.params = route.name, params
            trace = self._trace_for(params)
            if trace is not None:
                trace.request_started()
            if route.auth:
                rec.authorized = auth == f"Bot {self.token}"
                if not rec.authorized:
                    raise ApiError(401, "401: Unauthorized")
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            fault = self.faults.take(route.name, request.method, rec)
            if fault is not None:
                rec.fault = fault.kind
                answered = await apply_fault(fault, request, route.name)
                if answered is not None:
                    status, out, extra_headers = answered
                    if status == 0:  # connection dropped: no answer at all
                        rec.t_end = time.monotonic()
                        self._notify_trace_of_request(rec)
                        raise asyncio.CancelledError
                    return self._respond(rec, status, out, extra_headers)
            status, out = await route.handler(request, rec, params)
            extra_headers = self._ok_ratelimit_headers(route.name)
        except ApiError as exc:
            status, out = exc.status, exc.body
        except json.JSONDecodeError:
            status, out = 400, {"message": "400: Bad Request", "code": 50109}
        return self._respond(rec, status, out, extra_headers)

    def _respond(
        self, rec: RecordedRequest, status: int, out: Any, headers: dict[str, str]
    ) -> web.Response:
        rec.status, rec.response, rec.t_end = status, out, time.monotonic()
        self._notify_trace_of_request(rec)
        if status == 204 or out is None:
            return web.Response(status=status if status != 200 else 204, headers=headers)
        body = json.dumps(out, ensure_ascii=False).encode("utf-8")
        return web.Response(status=status, body=body, headers={**JSON_HEADERS, **headers})

    @staticmethod
    def _ok_ratelimit_headers(route: str) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": route_bucket(route),
        }

    @staticmethod
    async def _read_body(request: web.Request) -> tuple[str, Any]:
        ctype = request.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            form = await request.post()
            payload_json = form.get("payload_json")
            text = payload_json if isinstance(payload_json, str) else ""
            body: Any = json.loads(text) if text else {}
            if isinstance(body, dict):
                body["_files"] = [k for k in form if k != "payload_json"]
            return text, body
        raw = await request.text()
        if not raw:
            return "", None
        if ctype.startswith("application/json"):
            return raw, json.loads(raw)
        return raw, raw

    def _trace_for(self, params: dict[str, str]) -> InteractionTrace | None:
        it = None
        if "interaction_id" in params:
            it = self.interactions.get(params["interaction_id"])
        elif "token" in params:
            it = self._by_token.get(params["token"])
        return it.trace if it is not None else None

    def _notify_trace_of_request(self, rec: RecordedRequest) -> None:
        trace = self._trace_for(rec.params)
        if trace is not None:
            trace.add_request(rec)
