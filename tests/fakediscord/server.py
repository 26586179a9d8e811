"""A protocol-faithful fake Discord (REST + gateway) on 127.0.0.1 for end-to-end tests.

Point an unmodified discord.py client at it through discord.py's own override points::

    async with FakeDiscord() as fake:
        with fake.patch_discord():          # Route.BASE + DiscordWebSocket.DEFAULT_GATEWAY
            await bot.start(fake.token)

or, for a subprocess, ``fake.env()`` gives DISCORD_API_BASE_URL / DISCORD_GATEWAY_URL /
DISCORD_TOKEN.

REST answers use ``Content-Type: application/json`` exactly (discord.py's ``json_or_text``
parses nothing else) and Discord's error shapes (``{"message", "code", "errors"}``). The
gateway speaks JSON, optionally zlib-stream compressed (``?compress=zlib-stream``, which
discord.py 2.x requests unless zstandard is installed), with HELLO, IDENTIFY, READY,
GUILD_CREATE, heartbeats/ACKs, RESUME/RESUMED, RECONNECT and INVALID_SESSION.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import secrets
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .bulk import BulkGuilds
from .driver import InteractionTrace, build_interaction_payload
from .faults import Fault, FaultPlan, rate_limit_body, rate_limit_headers
from .payloads import (
    DM,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    FLAG_SUPPRESS_NOTIFICATIONS,
    GROUP_DM,
    FakeChannel,
    FakeGuild,
    FakeRole,
    FakeUser,
    form_error_body,
    guild_create_payload,
    message_payload,
    snowflake,
    validate_message_body,
)
from .recorder import MessageEvent, RecordedRequest, Recorder

JSON_HEADERS = {"Content-Type": "application/json"}
_PREFIX = re.compile(r"^/api(?:/v\d+)?")

# Gateway opcodes
OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE = 3
OP_VOICE_STATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11


class ApiError(Exception):
    """Answer with a Discord-style JSON error."""

    def __init__(self, status: int, message: str, code: int = 0, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "code": code, **extra}


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


Handler = Callable[[web.Request, RecordedRequest, dict[str, str]], Awaitable[tuple[int, Any]]]


@dataclass
class Route:
    name: str
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool


# ---------------------------------------------------------------------------------------
# Gateway


class GatewayConnection:
    def __init__(self, ws: web.WebSocketResponse, request: web.Request, compress: str | None):
        self.ws = ws
        self.request = request
        self.compress = compress
        self._compressor = zlib.compressobj() if compress == "zlib-stream" else None
        self._lock = asyncio.Lock()
        self.session: GatewaySession | None = None
        self.connected_at = time.monotonic()
        self.heartbeats = 0
        self.frames_sent = 0

    async def send(self, msg: dict[str, Any]) -> None:
        text = json.dumps(msg, separators=(",", ":"), ensure_ascii=False)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: escaped as \uXXXX, as Discord does
            text = json.dumps(msg, separators=(",", ":"))
        async with self._lock:
            if self._compressor is not None:
                data = self._compressor.compress(text.encode("utf-8"))
                data += self._compressor.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(data)
            else:
                await self.ws.send_str(text)
            self.frames_sent += 1

    @property
    def open(self) -> bool:
        return not self.ws.closed


@dataclass
class GatewaySession:
    session_id: str
    shard: tuple[int, int]
    seq: int = 0
    backlog: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    conn: GatewayConnection | None = None
    invalid: bool = False
    intents: int | None = None
    resumes: int = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


class FakeGateway:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: list[GatewayConnection] = []
        self.ack_heartbeats = True
        self.refuse_resume = False
        self.refuse_connections = False  # answer new gateway connections 503 (an outage)
        self.identifies = 0
        self.resumes = 0
        self._state_changed = asyncio.Event()

    # ---- state queries ---------------------------------------------------------------

    def live_sessions(self) -> list[GatewaySession]:
        return [
            s
            for s in self.sessions.values()
            if not s.invalid and s.conn is not None and s.conn.open
        ]

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        async def _wait() -> None:
            while not predicate():
                self._state_changed.clear()
                await self._state_changed.wait()

        await asyncio.wait_for(_wait(), timeout)

    async def wait_ready(self, timeout: float = 15.0, *, identifies: int = 1) -> None:
        """Wait until ``identifies`` IDENTIFYs were answered and a session is live."""
        await self.wait_until(
            lambda: self.identifies >= identifies and bool(self.live_sessions()), timeout
        )

    async def wait_resumed(self, count: int = 1, timeout: float = 15.0) -> None:
        await self.wait_until(lambda: self.resumes >= count and bool(self.live_sessions()), timeout)

    def _changed(self) -> None:
        self._state_changed.set()

    # ---- faults ----------------------------------------------------------------------

    async def drop(self, *, mode: str = "abort", code: int = 4000) -> int:
        """Drop every live gateway connection: ``abort`` the TCP connection (a network
        failure), or ``close`` it with ``code``. Sessions stay resumable. Returns how many."""
        dropped = 0
        for conn in list(self.connections):
            if not conn.open:
                continue
            dropped += 1
            self.fake.recorder.add_gateway_event("drop", {"mode": mode, "code": code})
            if mode == "abort":
                transport = conn.request.transport
                if transport is not None:
                    transport.abort()
                await conn.ws.close(code=1006)
            else:
                await conn.ws.close(code=code, message=b"fake: closed")
            self._detach(conn)
        self._changed()
        return dropped

    async def send_reconnect(self) -> None:
        """Op 7 RECONNECT: the client should reconnect and resume."""
        for conn in list(self.connections):
            if conn.open:
                await conn.send({"op": OP_RECONNECT, "d": None})

    async def invalidate(self, *, resumable: bool = False) -> None:
        """Op 9 INVALID_SESSION to every live connection."""
        for conn in list(self.connections):
            if conn.open:
                if conn.session is not None and not resumable:
                    conn.session.invalid = True
                await conn.send({"op": OP_INVALID_SESSION, "d": resumable})

    # ---- dispatch --------------------------------------------------------------------

    def _session_for_guild(self, guild_id: str | None) -> GatewaySession:
        candidates = [s for s in self.sessions.values() if not s.invalid]
        if not candidates:
            raise RuntimeError("no gateway session: the client has not identified")
        if guild_id is not None:
            wanted = [s for s in candidates if (int(guild_id) >> 22) % s.shard[1] == s.shard[0]]
        else:
            wanted = [s for s in candidates if s.shard[0] == 0]
        if not wanted:
            raise RuntimeError(f"no gateway session handles guild {guild_id}")
        # prefer a connected session, newest first
        wanted.sort(key=lambda s: (s.conn is not None and s.conn.open, s.seq), reverse=True)
        return wanted[0]

    async def dispatch(self, event: str, data: Any, *, guild_id: str | None = None) -> int:
        """Send a DISPATCH to the session handling ``guild_id``; buffered (and replayed on
        RESUME) while that session is disconnected. Returns the sequence number."""
        session = self._session_for_guild(guild_id)
        seq = session.next_seq()
        msg = {"op": OP_DISPATCH, "t": event, "s": seq, "d": data}
        session.backlog.append((seq, msg))
        self.fake.recorder.add_gateway_event("dispatch", {"t": event, "s": seq})
        if session.conn is not None and session.conn.open:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await session.conn.send(msg)
        return seq

    # ---- the websocket ---------------------------------------------------------------

    def _detach(self, conn: GatewayConnection) -> None:
        if conn.session is not None and conn.session.conn is conn:
            conn.session.conn = None
        if conn in self.connections:
            self.connections.remove(conn)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        fake = self.fake
        if self.refuse_connections:
            fake.recorder.add_gateway_event("refused", {"path": request.path})
            return web.Response(status=503, text="fake: gateway unavailable")
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        query = dict(request.query)
        fake.recorder.add_gateway_event("connect", {"path": request.path, "query": query})
        compress = query.get("compress")
        if query.get("encoding", "json") != "json":
            await ws.close(code=4002, message=b"fake: only encoding=json")
            return ws
        if compress not in (None, "zlib-stream"):
            # e.g. zstd-stream: accepted by Discord; here plain text frames are sent instead,
            # which every discord.py version reads.
            compress = None
        conn = GatewayConnection(ws, request, compress)
        self.connections.append(conn)
        self._changed()
        try:
            await conn.send(
                {
                    "op": OP_HELLO,
                    "d": {"heartbeat_interval": fake.heartbeat_interval_ms, "_trace": ["fake"]},
                    "s": None,
                    "t": None,
                }
            )
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    payload = json.loads(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    payload = json.loads(msg.data.decode("utf-8"))
                else:
                    break
                await self._on_message(conn, payload)
                if ws.closed:
                    break
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        finally:
            fake.recorder.add_gateway_event("disconnect", {"close_code": ws.close_code})
            self._detach(conn)
            self._changed()
        return ws

    async def _on_message(self, conn: GatewayConnection, payload: dict[str, Any]) -> None:
        fake = self.fake
        op = payload.get("op")
        d = payload.get("d")
        if op == OP_HEARTBEAT:
            conn.heartbeats += 1
            fake.recorder.add_gateway_event("heartbeat", d)
            if self.ack_heartbeats:
                await conn.send({"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
            return
        if op == OP_IDENTIFY:
            await self._identify(conn, d or {})
            return
        if op == OP_RESUME:
            await self._resume(conn, d or {})
            return
        if conn.session is None:
            await conn.ws.close(code=4003, message=b"Not authenticated.")
            return
        if op in (OP_PRESENCE, OP_VOICE_STATE, OP_REQUEST_MEMBERS):
            fake.recorder.add_gateway_event(f"op{op}", d)
            return
        await conn.ws.close(code=4001, message=b"Unknown opcode.")

    async def _identify(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        fake = self.fake
        safe = {k: v for k, v in d.items() if k != "token"}
        fake.recorder.add_gateway_event("identify", safe)
        if d.get("token") != fake.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        shard_list = d.get("shard") or [0, 1]
        shard = (int(shard_list[0]), int(shard_list[1]))
        if shard[1] < 1 or not 0 <= shard[0] < shard[1]:
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        session = GatewaySession(session_id=uuid.uuid4().hex, shard=shard, intents=d.get("intents"))
        self.sessions[session.session_id] = session
        session.conn = conn
        conn.session = session
        guilds = [g for g in fake.guilds.values() if (int(g.id) >> 22) % shard[1] == shard[0]]
        bulk = [] if fake.bulk_guilds is None else fake.bulk_guilds.for_shard(shard)
        bulk = [b for b in bulk if str(b.id) not in fake.guilds]
        ready = {
            "v": 10,
            "user_settings": {},
            "user": {
                **fake.bot_user.to_payload(),
                "verified": True,
                "mfa_enabled": True,
                "email": None,
                "locale": "en-US",
            },
            "session_type": "normal",
            "session_id": session.session_id,
            "resume_gateway_url": fake.resume_gateway_url,
            "relationships": [],
            "private_channels": [],
            "presences": [],
            "guilds": [{"id": g.id, "unavailable": True} for g in guilds]
            + [{"id": str(b.id), "unavailable": True} for b in bulk],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake"],
            "auth": {},
            "application": {"id": fake.app_id, "flags": fake.application_flags},
            "shard": list(shard),
            "_trace": ['["fake-gateway",{"micros":0}]'],
        }
        seq = session.next_seq()
        msg = {"op": OP_DISPATCH, "t": "READY", "s": seq, "d": ready}
        session.backlog.append((seq, msg))
        await conn.send(msg)
        for g in guilds:
            await self.dispatch_to(session, "GUILD_CREATE", guild_create_payload(g, fake.bot_user))
        for i, b in enumerate(bulk):  # built, sent, dropped: not kept for a RESUME's replay
            data = fake.bulk_guilds.payload(b, fake.bot_user)  # type: ignore[union-attr]
            msg = {"op": OP_DISPATCH, "t": "GUILD_CREATE", "s": session.next_seq(), "d": data}
            await conn.send(msg)
            if i % 20 == 19:  # other shards connect meanwhile, as on Discord
                await asyncio.sleep(0)
        self.identifies += 1
        self._changed()

    async def dispatch_to(self, session: GatewaySession, event: str, data: Any) -> None:
        seq = session.next_seq()
        msg = {"op": OP_DISPATCH, "t": event, "s": seq, "d": data}
        session.backlog.append((seq, msg))
        if session.conn is not None and session.conn.open:
            await session.conn.send(msg)

    async def _resume(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        fake = self.fake
        fake.recorder.add_gateway_event(
            "resume", {"session_id": d.get("session_id"), "seq": d.get("seq")}
        )
        if d.get("token") != fake.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        session = self.sessions.get(str(d.get("session_id")))
        if session is None or session.invalid or self.refuse_resume:
            await conn.send({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        if session.conn is not None and session.conn is not conn and session.conn.open:
            # the old socket is a zombie from the client's point of view
            with contextlib.suppress(Exception):
                await session.conn.ws.close(code=4000)
        session.conn = conn
        conn.session = session
        last = int(d.get("seq") or 0)
        for seq, msg in list(session.backlog):
            if seq > last:
                await conn.send(msg)
        await self.dispatch_to(session, "RESUMED", {"_trace": ['["fake-gateway"]']})
        session.resumes += 1
        self.resumes += 1
        self._changed()


# ---------------------------------------------------------------------------------------
# The server


class FakeDiscord:
    """The fake: REST + gateway + state (guilds, users, interactions, messages, commands)."""

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

        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port: int = 0
        self.routes: list[Route] = self._build_routes()

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._entry)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await self._site.start()
        server = self._site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        for conn in list(self.gateway.connections):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

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

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py (in this process) at the fake; restores the old values."""
        import discord.gateway
        import discord.http
        import yarl

        old_base = discord.http.Route.BASE
        old_gw = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.base_url
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gw

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

    # ---- the user simulator (see driver.py) ------------------------------------------

    async def run_command(
        self,
        *,
        user: FakeUser,
        name: str,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        options: dict[str, Any] | None = None,
        raw_options: list[dict[str, Any]] | None = None,
        locale: str = "en-US",
        interaction_type: int = 2,
        user_installed: bool = False,
        permissions: int | None = None,
        component: tuple[StoredMessage, str] | None = None,
        target: FakeUser | None = None,
    ) -> InteractionTrace:
        """User ``user`` runs ``/name`` with ``options`` in ``guild`` (or ``channel``: a DM /
        group DM). Dispatches INTERACTION_CREATE and returns the trace to await on.
        ``permissions``: the member's permission bits (Manage Server is 32); ``component``:
        (message, custom_id) of a button pressed (a type 3 interaction; see :meth:`click`);
        ``target``: the member a user context-menu command ``name`` is used on."""
        if channel is None:
            channel = guild.default_channel if guild is not None else self.dm_channel(user)
        iid = snowflake()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96)
        payload = build_interaction_payload(
            self,
            interaction_id=iid,
            token=token,
            user=user,
            guild=guild,
            channel=channel,
            name=name,
            options=options or {},
            raw_options=raw_options,
            locale=locale,
            interaction_type=interaction_type,
            user_installed=user_installed,
            permissions=permissions,
            target=target,
        )
        if component is not None:
            payload["data"] = {"custom_id": component[1], "component_type": 2}
            payload["message"] = component[0].payload
        it = FakeInteraction(
            id=iid,
            token=token,
            type=interaction_type,
            user=user,
            guild=guild,
            channel=channel,
            payload=payload,
            created=time.monotonic(),
            # a component interaction's "original" is the message the component is on
            original_id=component[0].id if component is not None else None,
        )
        trace = InteractionTrace(
            interaction_id=iid,
            token=token,
            name=name,
            options=dict(options or {}),
            user=user,
            guild=guild,
            channel=channel,
            payload=payload,
            dispatched_at=it.created,
            done=self.done_rule,
        )
        it.trace = trace
        self.interactions[iid] = it
        self._by_token[token] = it
        await self.gateway.dispatch(
            "INTERACTION_CREATE", payload, guild_id=guild.id if guild else None
        )
        return trace

    async def complete_command(
        self, *, settle_s: float = 1.5, timeout: float = 30.0, **kwargs: Any
    ) -> InteractionTrace:
        trace = await self.run_command(**kwargs)
        return await trace.wait_final(settle_s=settle_s, timeout=timeout)

    async def click(
        self,
        trace: InteractionTrace,
        label: str,
        *,
        user: FakeUser | None = None,
        permissions: int | None = None,
    ) -> InteractionTrace:
        """``user`` (default: whoever ran ``trace``) presses the button labelled ``label`` on
        the newest of ``trace``'s messages that shows it: a component interaction (type 3)
        carrying that message, answered with callback 4-7 like Discord; returns its trace.
        ``permissions``: the presser's permission bits (e.g. Manage Messages, 1 << 13)."""
        for message_id in reversed(list(trace.messages)):
            stored = self.messages[message_id]
            for row in stored.payload.get("components") or []:
                for button in row.get("components") or []:
                    if button.get("type") == 2 and button.get("label") == label:
                        return await self.run_command(
                            user=user or trace.user,
                            name=trace.name,
                            guild=trace.guild,
                            channel=trace.channel,
                            interaction_type=3,
                            component=(stored, str(button["custom_id"])),
                            permissions=permissions,
                        )
        raise ValueError(f"no button {label!r} on the messages of {trace.summary()}")

    def delete_as_user(self, trace: InteractionTrace) -> None:
        """A member (or moderator) deletes the interaction's reply: from now on the bot's
        edits of it fail with 404 Unknown Message (10008), as on Discord."""
        it = self.interactions[trace.interaction_id]
        stored = self.messages.get(it.original_id or "")
        if stored is None or stored.deleted:
            raise ValueError(f"interaction {trace.interaction_id} has no reply to delete")
        stored.deleted = True
        self._event("delete", stored, None, time.monotonic())

    @property
    def traces(self) -> list[InteractionTrace]:
        return [it.trace for it in self.interactions.values() if it.trace is not None]

    # ---- HTTP plumbing ---------------------------------------------------------------

    def _build_routes(self) -> list[Route]:
        table: list[tuple[str, str, str, Handler, bool]] = [
            ("get_gateway", "GET", r"/gateway", self._get_gateway, False),
            ("get_gateway_bot", "GET", r"/gateway/bot", self._get_gateway_bot, True),
            ("get_me", "GET", r"/users/@me", self._get_me, True),
            ("create_dm", "POST", r"/users/@me/channels", self._create_dm, True),
            ("get_user", "GET", r"/users/(?P<user_id>\d+)", self._get_user, True),
            ("app_info", "GET", r"/oauth2/applications/@me", self._app_info, True),
            ("app_info", "GET", r"/applications/@me", self._app_info, True),
            (
                "global_commands",
                "GET",
                r"/applications/(?P<app_id>\d+)/commands",
                self._get_commands,
                True,
            ),
            (
                "bulk_global_commands",
                "PUT",
                r"/applications/(?P<app_id>\d+)/commands",
                self._put_commands,
                True,
            ),
            (
                "guild_commands",
                "GET",
                r"/applications/(?P<app_id>\d+)/guilds/(?P<guild_id>\d+)/commands",
                self._get_commands,
                True,
            ),
            (
                "bulk_guild_commands",
                "PUT",
                r"/applications/(?P<app_id>\d+)/guilds/(?P<guild_id>\d+)/commands",
                self._put_commands,
                True,
            ),
            (
                "callback",
                "POST",
                r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback",
                self._callback,
                False,
            ),
            (
                "get_original",
                "GET",
                r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/@original",
                self._get_original,
                False,
            ),
            (
                "edit_original",
                "PATCH",
                r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/@original",
                self._edit_original,
                False,
            ),
            (
                "delete_original",
                "DELETE",
                r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/@original",
                self._delete_original,
                False,
            ),
            (
                "followup",
                "POST",
                r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)",
                self._followup,
                False,
            ),
            (
                "get_followup",
                "GET",
                r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>\d+)",
                self._get_followup,
                False,
            ),
            (
                "edit_followup",
                "PATCH",
                r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>\d+)",
                self._edit_followup,
                False,
            ),
            (
                "delete_followup",
                "DELETE",
                r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>\d+)",
                self._delete_followup,
                False,
            ),
            ("get_channel", "GET", r"/channels/(?P<channel_id>\d+)", self._get_channel, True),
            (
                "channel_message",
                "POST",
                r"/channels/(?P<channel_id>\d+)/messages",
                self._channel_message,
                True,
            ),
            (
                "edit_channel_message",
                "PATCH",
                r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)",
                self._edit_channel_message,
                True,
            ),
            (
                "delete_channel_message",
                "DELETE",
                r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)",
                self._delete_channel_message,
                True,
            ),
            ("typing", "POST", r"/channels/(?P<channel_id>\d+)/typing", self._typing, True),
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
        status, out, extra_headers = 500, None, {}
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
                answered = await self._apply_fault(fault, request, route)
                if answered is not None:
                    status, out, extra_headers = answered
                    if status == 0:  # connection dropped: no answer at all
                        rec.t_end = time.monotonic()
                        self._notify_trace_of_request(rec)
                        raise asyncio.CancelledError
                    return self._respond(rec, status, out, extra_headers)
            status, out = await route.handler(request, rec, params)
            extra_headers = self._ok_ratelimit_headers(route.name, params)
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
    def _ok_ratelimit_headers(route: str, params: dict[str, str]) -> dict[str, str]:
        bucket = hashlib.sha1(route.encode()).hexdigest()[:16]
        return {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": bucket,
        }

    async def _apply_fault(
        self, fault: Fault, request: web.Request, route: Route
    ) -> tuple[int, Any, dict[str, str]] | None:
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
            bucket = hashlib.sha1(route.name.encode()).hexdigest()[:16]
            return 429, rate_limit_body(fault), rate_limit_headers(fault, bucket)
        if fault.kind in ("500", "502"):
            code = int(fault.kind)
            msg = "500: Internal Server Error" if code == 500 else "502: Bad Gateway"
            return code, {"message": msg, "code": 0}, {}
        if fault.kind == "drop":
            if request.transport is not None:
                request.transport.abort()
            return 0, None, {}
        raise AssertionError(f"unknown fault {fault.kind}")

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

    # ---- message helpers -------------------------------------------------------------

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
            raise _form_error(errors)
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

    async def _get_commands(self, _r: web.Request, _rec: RecordedRequest, p: dict[str, str]) -> Any:
        if p["app_id"] != self.app_id:
            raise ApiError(403, "Missing Access", 50001)
        if "guild_id" in p:
            return 200, self.guild_commands.get(p["guild_id"], [])
        return 200, self.global_commands

    async def _put_commands(self, _r: web.Request, rec: RecordedRequest, p: dict[str, str]) -> Any:
        if p["app_id"] != self.app_id:
            raise ApiError(403, "Missing Access", 50001)
        body = rec.body
        if not isinstance(body, list):
            raise ApiError(400, "400: Bad Request", 50109)
        guild_id = p.get("guild_id")
        if guild_id is not None and guild_id not in self.guilds:
            raise ApiError(404, "Unknown Guild", 10004)
        errors = validate_commands(body)
        if errors:
            raise _form_error(errors)
        old = self.guild_commands.get(guild_id, []) if guild_id else self.global_commands
        old_ids = {(c["name"], c.get("type", 1)): c["id"] for c in old}
        out = []
        for cmd in body:
            ctype = cmd.get("type", 1)
            full = {
                "id": old_ids.get((cmd["name"], ctype)) or snowflake(),
                "application_id": self.app_id,
                "version": snowflake(),
                "type": ctype,
                "name": cmd["name"],
                "description": cmd.get("description", ""),
                "options": cmd.get("options", []),
                "default_member_permissions": cmd.get("default_member_permissions"),
                "dm_permission": cmd.get("dm_permission", True),
                "nsfw": cmd.get("nsfw", False),
                "integration_types": cmd.get("integration_types", [0]),
                "contexts": cmd.get("contexts"),
                "name_localizations": cmd.get("name_localizations"),
                "description_localizations": cmd.get("description_localizations"),
            }
            if guild_id is not None:
                full["guild_id"] = guild_id
            out.append(full)
        if guild_id is not None:
            self.guild_commands[guild_id] = out
        else:
            self.global_commands = out
        return 200, out

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
                raise _form_error(
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

    def _original(self, it: FakeInteraction) -> StoredMessage:
        if it.original_id is None:
            raise ApiError(404, "Unknown Message", 10008)
        stored = self.messages.get(it.original_id)
        if stored is None or stored.deleted:
            raise ApiError(404, "Unknown Message", 10008)
        return stored

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

    def _followup_message(self, it: FakeInteraction, message_id: str) -> StoredMessage:
        stored = self.messages.get(message_id)
        if stored is None or stored.deleted or stored.interaction_id != it.id:
            raise ApiError(404, "Unknown Message", 10008)
        return stored

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


def _form_error(errors: list[tuple[list[str], dict[str, str]]]) -> ApiError:
    """A 400 "Invalid Form Body" (code 50035) with Discord's nested ``errors`` tree."""
    body = form_error_body(errors)
    return ApiError(400, body["message"], body["code"], errors=body["errors"])


_NAME_RE = re.compile(r"^[-_\w]{1,32}$")


def validate_commands(cmds: list[dict[str, Any]]) -> list[tuple[list[str], dict[str, str]]]:
    """The checks Discord applies to a bulk overwrite (subset): names, descriptions, option
    counts and order, choices."""
    errors: list[tuple[list[str], dict[str, str]]] = []

    def err(path: list[str], code: str, message: str) -> None:
        errors.append((path, {"code": code, "message": message}))

    if len(cmds) > 100:
        err([], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
    seen: set[tuple[str, int]] = set()
    for i, cmd in enumerate(cmds):
        base = [str(i)]
        name = cmd.get("name", "")
        ctype = cmd.get("type", 1)
        if (name, ctype) in seen:
            err([*base, "name"], "APPLICATION_COMMANDS_DUPLICATE_NAME", "duplicate name")
        seen.add((name, ctype))
        if ctype == 1:
            if not _NAME_RE.match(name) or name != name.lower():
                err([*base, "name"], "APPLICATION_COMMAND_INVALID_NAME", f"bad name {name!r}")
            desc = cmd.get("description", "")
            if not 1 <= len(desc) <= 100:
                err([*base, "description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100.")
        errors += _validate_options(cmd.get("options") or [], [*base, "options"])
    return errors


def _validate_options(
    options: list[dict[str, Any]], path: list[str]
) -> list[tuple[list[str], dict[str, str]]]:
    errors: list[tuple[list[str], dict[str, str]]] = []
    if len(options) > 25:
        errors.append((path, {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 25 or fewer."}))
    optional_seen = False
    for j, opt in enumerate(options):
        p = [*path, str(j)]
        name = opt.get("name", "")
        if not _NAME_RE.match(name) or name != name.lower():
            errors.append(
                ([*p, "name"], {"code": "APPLICATION_COMMAND_INVALID_NAME", "message": name})
            )
        desc = opt.get("description", "")
        if not 1 <= len(desc) <= 100:
            errors.append(
                ([*p, "description"], {"code": "BASE_TYPE_BAD_LENGTH", "message": "1-100"})
            )
        if opt.get("type") in (1, 2):
            errors += _validate_options(opt.get("options") or [], [*p, "options"])
            continue
        if opt.get("required"):
            if optional_seen:
                errors.append(
                    (
                        [*p, "required"],
                        {
                            "code": "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                            "message": "Required options must be placed before non-required "
                            "options",
                        },
                    )
                )
        else:
            optional_seen = True
        choices = opt.get("choices") or []
        if len(choices) > 25:
            errors.append(([*p, "choices"], {"code": "BASE_TYPE_MAX_LENGTH", "message": "max 25"}))
        if choices and opt.get("autocomplete"):
            errors.append(
                (
                    [*p, "autocomplete"],
                    {"code": "AUTOCOMPLETE_AND_CHOICES", "message": "not both"},
                )
            )
    return errors


__all__ = [
    "ApiError",
    "FakeDiscord",
    "FakeGateway",
    "FakeInteraction",
    "GatewaySession",
    "StoredMessage",
]
