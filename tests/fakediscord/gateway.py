"""The gateway websocket: HELLO/IDENTIFY/READY, heartbeats, RESUME and dispatch.

discord.py connects with ``?v=10&encoding=json&compress=zlib-stream``. We honour
zlib-stream (one shared deflate context per connection, each frame ending with
the Z_SYNC_FLUSH suffix) because that is what production traffic looks like;
any other (or no) compression gets plain text frames, which discord.py also
accepts (it only inflates binary frames).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .models import Intents, shard_of
from .records import GatewayFrame

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)


class Op:
    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE_UPDATE = 3
    VOICE_STATE_UPDATE = 4
    RESUME = 6
    RECONNECT = 7
    REQUEST_GUILD_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


PRIVILEGED_INTENTS = Intents.GUILD_MEMBERS | (1 << 8) | Intents.MESSAGE_CONTENT  # members, presences, content


class GatewayConnection:
    """One websocket connection from the bot."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, *, zlib_stream: bool) -> None:
        self.ws = ws
        self.request = request
        self.path = request.path
        self.query = dict(request.query)
        self.lock = asyncio.Lock()  # keeps frame order (and the shared deflate stream) intact
        self._deflate = zlib.compressobj() if zlib_stream else None
        self.session: GatewaySession | None = None
        self.closed_by_fake: int | None = None

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def send_raw(self, payload: dict[str, Any]) -> bool:
        """Send without taking the lock (caller holds it). Returns False if the socket is gone."""
        if self.ws.closed:
            return False
        data = json.dumps(payload, separators=(",", ":"))
        try:
            if self._deflate is not None:
                blob = self._deflate.compress(data.encode()) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(blob)
            else:
                await self.ws.send_str(data)
        except (ConnectionError, RuntimeError) as exc:  # closing transport
            log.debug("gateway send failed: %s", exc)
            return False
        return True

    async def send(self, payload: dict[str, Any]) -> bool:
        async with self.lock:
            return await self.send_raw(payload)

    async def close(self, code: int, message: str = "") -> None:
        self.closed_by_fake = code
        await self.ws.close(code=code, message=message.encode())

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (like a network failure)."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()


@dataclass(eq=False)
class GatewaySession:
    id: str
    intents: int
    identify: dict[str, Any]
    seq: int = 0
    conn: GatewayConnection | None = None
    resumable: bool = True
    ready_sent: bool = False  # READY and all GUILD_CREATEs are out
    shard: tuple[int, int] | None = None  # (shard_id, shard_count) from IDENTIFY; None when unsharded
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=5000))

    def has_intent(self, intent: int) -> bool:
        return bool(self.intents & intent)


class Gateway:
    """Gateway state machine, owned by FakeDiscord."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.connections: set[GatewayConnection] = set()
        self.sessions: dict[str, GatewaySession] = {}
        self.current: GatewaySession | None = None  # the latest IDENTIFY
        # The latest session of each shard id (an unsharded session is shard 0): where its guilds' events go.
        self.shards: dict[int, GatewaySession] = {}
        self.frames: deque[GatewayFrame] = deque(maxlen=10000)
        self.identify_count = 0
        self.resume_count = 0
        self.ready_count = 0
        self.connect_count = 0
        self.heartbeat_count = 0
        self.presence: dict[str, Any] | None = None

    # -- websocket endpoint -----------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        zlib_stream = request.query.get("compress") == "zlib-stream"
        conn = GatewayConnection(ws, request, zlib_stream=zlib_stream)
        self.connections.add(conn)
        self.connect_count += 1
        log.debug("gateway connection #%d on %s %s", self.connect_count, request.path, dict(request.query))
        if request.query.get("encoding", "json") != "json":
            await conn.close(4002, "Decode error: only encoding=json is supported by the fake")
            return ws
        await self._send(
            conn,
            {
                "op": Op.HELLO,
                "d": {"heartbeat_interval": self.fake.heartbeat_interval_ms, "_trace": ['["fake-gateway"]']},
            },
        )
        self.fake.notify()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        payload = json.loads(msg.data)
                    except ValueError:
                        await conn.close(4002, "Decode error")
                        break
                    await self._on_frame(conn, payload)
                elif msg.type == WSMsgType.BINARY:
                    await conn.close(4002, "Decode error: binary frames are not expected from clients")
                    break
                elif msg.type == WSMsgType.ERROR:
                    break
        except ConnectionResetError:
            pass  # the bot vanished; cleanup below
        finally:
            self.connections.discard(conn)
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
            self.fake.notify()
        return ws

    async def _send(self, conn: GatewayConnection, payload: dict[str, Any]) -> bool:
        self._record("send", payload)
        return await conn.send(payload)

    def _record(self, direction: str, payload: dict[str, Any]) -> None:
        self.frames.append(
            GatewayFrame(direction, payload.get("op", -1), payload.get("t"), payload.get("s"), payload.get("d"))
        )

    async def _on_frame(self, conn: GatewayConnection, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        d = payload.get("d")
        self._record("recv", payload)
        if op == Op.HEARTBEAT:
            self.heartbeat_count += 1
            await self._send(conn, {"op": Op.HEARTBEAT_ACK})
        elif op == Op.IDENTIFY:
            await self._identify(conn, d or {})
        elif op == Op.RESUME:
            await self._resume(conn, d or {})
        elif conn.session is None:
            await conn.close(4003, "Not authenticated.")
        elif op == Op.PRESENCE_UPDATE:
            self.presence = d
        elif op == Op.REQUEST_GUILD_MEMBERS:
            await self._member_chunk(conn.session, d or {})
        elif op == Op.VOICE_STATE_UPDATE:
            pass
        else:
            await conn.close(4001, "Unknown opcode.")
        self.fake.notify()

    async def _identify(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        if conn.session is not None:
            await conn.close(4005, "Already authenticated.")
            return
        if d.get("token") != self.fake.token:
            await conn.close(4004, "Authentication failed.")
            return
        intents = int(d.get("intents", 0))
        if intents & PRIVILEGED_INTENTS & ~self.fake.privileged_intents:
            await conn.close(4014, "Disallowed intent(s).")
            return
        shard = d.get("shard")
        if shard is not None:
            valid = isinstance(shard, list) and len(shard) == 2 and all(type(n) is int for n in shard)
            if not valid or not 0 <= shard[0] < shard[1]:
                await conn.close(4010, "Invalid shard.")
                return
            shard = (shard[0], shard[1])
        # A new session supersedes the old one of its shard (whose events are gone for good).
        shard_id = shard[0] if shard else 0
        if shard_id in self.shards:
            self.shards[shard_id].resumable = False
        session = GatewaySession(id=secrets.token_hex(16), intents=intents, identify=d, shard=shard)
        self.sessions[session.id] = session
        self.current = session
        self.shards[shard_id] = session
        session.conn = conn
        conn.session = session
        self.identify_count += 1
        self.fake.notify()

        fake = self.fake
        guilds = [g for g in fake.guilds if shard is None or shard_of(g.id, shard[1]) == shard[0]]
        ready = {
            "v": 10,
            "user_settings": {},
            "user": fake.bot_user.to_private_payload(),
            "session_type": "normal",
            "session_id": session.id,
            "resume_gateway_url": fake.resume_gateway_url,
            "relationships": [],
            "private_channels": [],
            "presences": [],
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake"],
            "auth": {},
            "application": {"id": str(fake.application_id), "flags": fake.application_flags},
            "_trace": ['["fake-gateway",{"micros":0}]'],
        }
        if shard is not None:
            ready["shard"] = list(shard)
        await self.dispatch("READY", ready, session=session)
        with_members = session.has_intent(Intents.GUILD_MEMBERS)
        for guild in guilds:
            data = guild.to_create_payload(include_members=True)
            if not with_members:
                # Without GUILD_MEMBERS Discord only sends the bot's own member.
                data["members"] = [m for m in data["members"] if m["user"]["id"] == str(fake.bot_user.id)]
            await self.dispatch("GUILD_CREATE", data, session=session)
        session.ready_sent = True
        self.ready_count += 1
        self.fake.notify()

    async def _resume(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        if d.get("token") != self.fake.token:
            await conn.close(4004, "Authentication failed.")
            return
        session = self.sessions.get(str(d.get("session_id")))
        if session is None or not session.resumable:
            # Not resumable: the client must IDENTIFY again (after the 1-5 s Discord asks for).
            await self._send(conn, {"op": Op.INVALID_SESSION, "d": False})
            return
        client_seq = int(d.get("seq") or 0)
        if session.conn is not None and session.conn is not conn:
            old = session.conn
            session.conn = None
            await old.close(4000, "Session resumed elsewhere")
        async with conn.lock:
            sent_upto = client_seq
            while True:
                pending = [p for p in session.log if p["s"] > sent_upto]
                if not pending:
                    break
                for p in pending:
                    self._record("send", p)
                    await conn.send_raw(p)
                    sent_upto = p["s"]
            # No await between the last check and attaching: nothing can slip through.
            session.conn = conn
            conn.session = session
        self.resume_count += 1
        await self.dispatch("RESUMED", {"_trace": ['["fake-gateway"]']}, session=session)
        self.fake.notify()

    async def _member_chunk(self, session: GatewaySession, d: dict[str, Any]) -> None:
        try:
            guild = self.fake.get_guild(int(d["guild_id"]))
        except (KeyError, ValueError):
            return
        members = list(guild.members)
        user_ids = d.get("user_ids")
        if user_ids:
            ids = {int(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])}
            members = [m for m in members if m.user.id in ids]
        else:
            query = (d.get("query") or "").lower()
            members = [m for m in members if m.user.username.lower().startswith(query)]
            if d.get("limit"):
                members = members[: int(d["limit"])]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [m.to_payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        if d.get("presences"):
            chunk["presences"] = []
        await self.dispatch("GUILD_MEMBERS_CHUNK", chunk, session=session)

    # -- dispatching ------------------------------------------------------

    def session_for(self, guild_id: int | None) -> GatewaySession | None:
        """The session Discord sends this guild's events on (direct messages: shard 0's); unsharded, the latest."""
        current = self.current
        if current is None or current.shard is None:
            return current
        return self.shards.get(shard_of(guild_id, current.shard[1]))

    def session_for_event(self, data: dict[str, Any]) -> GatewaySession | None:
        """The session for an event about the guild in ``data["guild_id"]`` (none: shard 0's)."""
        guild_id = data.get("guild_id")
        return self.session_for(int(guild_id) if guild_id is not None else None)

    async def dispatch(self, event: str, data: dict[str, Any], *, session: GatewaySession | None = None) -> int:
        """Send a DISPATCH on the session (by default the one of the guild named by ``data["guild_id"]``);
        buffered for RESUME if not connected."""
        session = session or self.session_for_event(data)
        if session is None:
            raise RuntimeError(f"cannot dispatch {event}: the bot has not identified (for this guild's shard) with the fake gateway yet")
        if not session.resumable and session.conn is None:
            log.warning("dropping %s: the session was invalidated and the bot has not re-identified yet", event)
            return session.seq
        session.seq += 1
        payload = {"op": Op.DISPATCH, "t": event, "s": session.seq, "d": data}
        session.log.append(payload)
        conn = session.conn
        if conn is not None:
            self._record("send", payload)
            await conn.send(payload)
        else:
            log.debug("buffering %s (s=%d) until the bot resumes", event, session.seq)
        return session.seq

    # -- fault injection --------------------------------------------------

    async def drop(self, code: int | None = 4000) -> None:
        """Close the current connection; the session stays resumable."""
        conn = self.current.conn if self.current else None
        if conn is None:
            raise RuntimeError("no gateway connection to drop")
        self.current.conn = None  # type: ignore[union-attr]
        if code is None:
            conn.abort()
        else:
            await conn.close(code, "fake drop")
        self.fake.notify()

    async def send_reconnect(self) -> None:
        conn = self._current_conn()
        await self._send(conn, {"op": Op.RECONNECT, "d": None})

    async def send_invalid_session(self, resumable: bool = False) -> None:
        conn = self._current_conn()
        await self._send(conn, {"op": Op.INVALID_SESSION, "d": resumable})
        if not resumable and self.current is not None:
            # The session is dead: nothing more is sent on it, the bot must IDENTIFY anew.
            self.current.resumable = False
            self.current.conn = None
        self.fake.notify()

    def _current_conn(self) -> GatewayConnection:
        if self.current is None or self.current.conn is None:
            raise RuntimeError("the bot is not connected to the fake gateway")
        return self.current.conn

    async def close_all(self) -> None:
        for conn in list(self.connections):
            try:
                await conn.close(1001, "fake discord shutting down")
            except Exception:  # pragma: no cover - best effort at shutdown
                conn.abort()
