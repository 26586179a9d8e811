"""The fake's gateway: a websocket per connection, a session per IDENTIFY (one shard each),
dispatches routed to the session of the guild's shard, RESUME with replay of missed events,
and the faults a test can cause (drops, RECONNECT, INVALID_SESSION, unacknowledged
heartbeats, refused resumes or connections).

JSON frames, optionally zlib-stream compressed (``?compress=zlib-stream``, which discord.py
2.x requests unless zstandard is installed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .payloads import guild_create_payload

if TYPE_CHECKING:
    from .state import FakeState

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
    def __init__(self, fake: FakeState) -> None:
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
