"""FakeDiscord: an in-process Discord (REST + gateway) for end-to-end tests."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from .gateway import PRIVILEGED_INTENTS, Gateway
from .interactions import (
    InteractionHandle,
    InteractionType,
    OptionType,
    ResolvedCollector,
    build_options,
    find_component,
    find_subcommand,
    nest_subcommand,
    new_interaction_token,
)
from .models import (
    MENTION_RE,
    ROLE_MENTION_RE,
    ChannelType,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    Intents,
    MessageFlags,
    Perm,
    UploadedFile,
    iso_now,
    message_payload,
    new_id,
)
from .openapi import SpecValidator, default_spec_path, load_spec_validator
from .records import FaultRule, RecordedRequest
from .rest import DiscordError, RestApi, RuleViolation

log = logging.getLogger(__name__)

_DEFAULT = object()  # "use the default guild/channel" (None means "in a DM")
MAX_CONTENT = 2000
MAX_EMBED_TOTAL = 6000
# Flags a bot may set when creating a message: SUPPRESS_EMBEDS, EPHEMERAL,
# SUPPRESS_NOTIFICATIONS, IS_VOICE_MESSAGE, IS_COMPONENTS_V2.
_SETTABLE_FLAGS = (1 << 2) | (1 << 6) | (1 << 12) | (1 << 13) | (1 << 15)


class FakeDiscord:
    """A fake Discord API + gateway on 127.0.0.1 that the real discord.py talks to.

    Typical use::

        async with FakeDiscord() as fake, point_discord_py_at(fake):
            await bot.login(fake.token)
            task = asyncio.create_task(bot.connect())
            await fake.wait_for_commands()  # or wait_for_ready()
            handle = await fake.send_slash_command("ask", {"question": "hi"})
            msg = await handle.wait_final()
            ...
            await bot.close()
            await task
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        bot_name: str = "FakeBot",
        bot_id: int | None = None,
        application_id: int | None = None,
        guilds: Sequence[FakeGuild] | None = None,
        default_world: bool = True,
        heartbeat_interval_ms: int = 41250,
        interaction_timeout: float | None = 3.0,
        validate: bool = True,
        spec_path: str | None = None,
        reject_invalid_requests: bool = True,
        echo_bot_messages: bool = True,
        privileged_intents: int = PRIVILEGED_INTENTS,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.bot_user = FakeUser(bot_id or new_id(), bot_name, bot=True)
        # Modern applications share their id with their bot user.
        self.application_id = application_id or self.bot_user.id
        self.token = token or self._make_token(self.bot_user.id)
        self.host = host
        self._port = port
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.interaction_timeout = interaction_timeout
        self.reject_invalid_requests = reject_invalid_requests
        self.echo_bot_messages = echo_bot_messages
        self.privileged_intents = privileged_intents

        self.users: dict[int, FakeUser] = {self.bot_user.id: self.bot_user}
        self.guilds: list[FakeGuild] = []
        self.dm_channels: dict[int, FakeChannel] = {}  # recipient user id -> channel
        self.blocked_dm_users: set[int] = set()
        self.messages: dict[int, FakeMessage] = {}
        self.attachment_blobs: dict[int, tuple[str | None, bytes]] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.command_syncs = 0
        self.interactions: dict[int, InteractionHandle] = {}
        self.interactions_by_token: dict[str, InteractionHandle] = {}
        self.typing: list[tuple[int, float]] = []

        # records
        self.requests: list[RecordedRequest] = []
        self.unknown_routes: list[RecordedRequest] = []
        self.spec_violations: list[str] = []
        self.response_violations: list[str] = []  # the fake's own answers vs the spec
        self.fault_rules: list[FaultRule] = []

        self.validator: SpecValidator | None = None
        self.spec_skip_reason: str | None = None
        if validate:
            path = spec_path or default_spec_path()
            self.validator = load_spec_validator(path)
            if self.validator is None:
                self.spec_skip_reason = f"Discord OpenAPI spec not found at {path}"
        else:
            self.spec_skip_reason = "validation disabled (validate=False)"

        self.gateway = Gateway(self)
        self.rest = RestApi(self)
        self._consumed: set[int] = set()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

        self.user: FakeUser | None = None  # the default human user (set by the default world)
        for g in guilds or ():
            self._register_guild(g)
        if default_world and not guilds:
            self._build_default_world()

    # ------------------------------------------------------------------ setup

    @staticmethod
    def _make_token(user_id: int) -> str:
        head = base64.b64encode(str(user_id).encode()).decode().rstrip("=")
        return f"{head}.FakeTk.{secrets.token_urlsafe(27)}"

    def _build_default_world(self) -> None:
        alice = self.add_user("alice", global_name="Alice")
        bob = self.add_user("bob", global_name="Bob")
        self.user = alice
        guild = self.add_guild("Fake Guild", owner=alice, channels=("general", "random"))
        mod = self.add_role(guild, "Moderator", permissions=Perm.MANAGE_MESSAGES | Perm.KICK_MEMBERS)
        self.add_member(guild, bob, roles=[mod])

    def add_user(self, username: str, *, global_name: str | None = None, bot: bool = False) -> FakeUser:
        user = FakeUser(new_id(), username, global_name=global_name, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        owner: FakeUser | None = None,
        channels: Sequence[str] = ("general",),
        everyone_permissions: int = Perm.DEFAULT_EVERYONE,
        bot_permissions: int = Perm.DEFAULT_BOT,
        members: Sequence[FakeUser] = (),
        shard: tuple[int, int] | None = None,
    ) -> FakeGuild:
        """Create a guild the bot is in: @everyone, the bot's managed role, text channels.

        ``shard=(shard_id, shard_count)`` gives it an id Discord routes to that shard."""
        owner = owner or self.user or self.add_user("owner")
        gid = new_id(shard)
        guild = FakeGuild(gid, name, owner.id)
        guild.roles.append(FakeRole(gid, "@everyone", permissions=everyone_permissions))
        bot_role = FakeRole(
            new_id(),
            self.bot_user.username,
            permissions=bot_permissions,
            position=1,
            managed=True,
            bot_id=self.bot_user.id,
        )
        guild.roles.append(bot_role)
        for i, ch in enumerate(channels):
            guild.channels.append(FakeChannel(new_id(), ch, guild_id=gid, position=i))
        guild.members.append(FakeMember(owner))
        guild.members.append(FakeMember(self.bot_user, roles=[bot_role.id]))
        for u in members:
            if u.id != owner.id:
                guild.members.append(FakeMember(u))
        self._register_guild(guild)
        return guild

    def _register_guild(self, guild: FakeGuild) -> None:
        for m in guild.members:
            self.users.setdefault(m.user.id, m.user)
        if guild.get_member(self.bot_user) is None:
            guild.members.append(FakeMember(self.bot_user))
        self.guilds.append(guild)

    async def remove_bot_from(self, guild: FakeGuild) -> None:
        """The bot is kicked from (or leaves) the guild: it is gone from the fake, and the bot gets GUILD_DELETE."""
        session = self.gateway.session_for(guild.id)
        self.guilds.remove(guild)
        await self.gateway.dispatch("GUILD_DELETE", {"id": str(guild.id)}, session=session)

    def add_role(self, guild: FakeGuild, name: str, *, permissions: int = 0, **kw: Any) -> FakeRole:
        role = FakeRole(new_id(), name, permissions=permissions, position=len(guild.roles), **kw)
        guild.roles.append(role)
        self._dispatch_soon("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.to_payload()})
        return role

    def add_channel(
        self,
        guild: FakeGuild,
        name: str,
        *,
        type: int = ChannelType.GUILD_TEXT,
        topic: str | None = None,
        overwrites: Sequence[dict[str, Any]] = (),
    ) -> FakeChannel:
        ch = FakeChannel(
            new_id(),
            name,
            type=type,
            guild_id=guild.id,
            position=len(guild.channels),
            topic=topic,
            permission_overwrites=list(overwrites),
        )
        guild.channels.append(ch)
        self._dispatch_soon("CHANNEL_CREATE", ch.to_payload())
        return ch

    def add_member(
        self, guild: FakeGuild, user: FakeUser, *, roles: Sequence[FakeRole | int | str] = (), nick: str | None = None
    ) -> FakeMember:
        self.users.setdefault(user.id, user)
        member = guild.get_member(user)
        if member is None:
            member = FakeMember(user, nick=nick)
            guild.members.append(member)
        member.roles = [guild.get_role(r).id for r in roles]
        self._dispatch_soon(
            "GUILD_MEMBER_ADD", {**member.to_payload(), "guild_id": str(guild.id)}, intent=Intents.GUILD_MEMBERS
        )
        return member

    def dm_channel(self, user: FakeUser | int) -> FakeChannel:
        """The DM channel between the bot and ``user`` (created on first use, like Discord)."""
        u = self._resolve_user(user)
        ch = self.dm_channels.get(u.id)
        if ch is None:
            ch = FakeChannel(new_id(), None, type=ChannelType.DM, recipients=[u])
            self.dm_channels[u.id] = ch
        return ch

    def block_dms(self, user: FakeUser | int) -> None:
        """Make DMs to ``user`` fail with 50007 (user has DMs closed)."""
        self.blocked_dm_users.add(self._resolve_user(user).id)

    # ---------------------------------------------------------------- lookup

    @property
    def guild(self) -> FakeGuild:
        return self.guilds[0]

    @property
    def channel(self) -> FakeChannel:
        return self.guild.text_channels[0]

    @property
    def bot_mention(self) -> str:
        return self.bot_user.mention

    def get_guild(self, guild_id: int) -> FakeGuild:
        for g in self.guilds:
            if g.id == guild_id:
                return g
        raise KeyError(guild_id)

    def get_guild_or_error(self, guild_id: int) -> FakeGuild:
        try:
            return self.get_guild(guild_id)
        except KeyError:
            raise DiscordError(404, 10004, "Unknown Guild") from None

    def find_channel(self, channel_id: int) -> FakeChannel | None:
        for g in self.guilds:
            for c in g.channels:
                if c.id == channel_id:
                    return c
        for c in self.dm_channels.values():
            if c.id == channel_id:
                return c
        return None

    def get_channel_or_error(self, channel_id: int) -> FakeChannel:
        ch = self.find_channel(channel_id)
        if ch is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        return ch

    def _resolve_user(self, user: FakeUser | FakeMember | int | str | None) -> FakeUser:
        if user is None:
            if self.user is None:
                raise ValueError("no default user: pass user=/author=")
            return self.user
        if isinstance(user, FakeMember):
            return user.user
        if isinstance(user, FakeUser):
            self.users.setdefault(user.id, user)
            return user
        for u in self.users.values():
            if u.id == user or u.username == user:
                return u
        raise KeyError(f"unknown user {user!r}")

    def _resolve_guild(self, guild: Any) -> FakeGuild | None:
        if guild is _DEFAULT:
            return self.guild
        if guild is None:
            return None
        if isinstance(guild, FakeGuild):
            return guild
        return self.get_guild(int(guild))

    def _resolve_channel(self, channel: Any, guild: FakeGuild | None, user: FakeUser) -> FakeChannel:
        if guild is None:
            if channel not in (_DEFAULT, None):
                ch = channel if isinstance(channel, FakeChannel) else self.find_channel(int(channel))
                if ch is None or not ch.is_dm:
                    raise ValueError(f"{channel!r} is not a DM channel")
                return ch
            return self.dm_channel(user)
        if channel is _DEFAULT or channel is None:
            return guild.text_channels[0]
        if isinstance(channel, FakeChannel):
            return channel
        return guild.get_channel(channel if isinstance(channel, str) else int(channel))

    # ------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("FakeDiscord is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        # A different path than gateway_url so tests can see discord.py honour it.
        return f"ws://{self.host}:{self.port}/resume-gateway"

    async def start(self) -> FakeDiscord:
        self._loop = asyncio.get_running_loop()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/resume-gateway", self.gateway.handle)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._serve_attachment)
        app.router.add_route("*", "/api/v10/{tail:.*}", self.rest.handle)
        app.router.add_route("*", "/{tail:.*}", self._outside_api)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        await site.start()
        self._port = self._runner.addresses[0][1]  # the ephemeral port actually bound
        log.info(
            "fake discord listening on %s (spec: %s)",
            self.base_url,
            self.validator.source if self.validator else self.spec_skip_reason,
        )
        return self

    async def stop(self) -> None:
        for h in self.interactions.values():
            if h._expiry is not None:
                h._expiry.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self.gateway.close_all()
            await self._runner.cleanup()
            self._runner = None
        self.notify()

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    async def _serve_attachment(self, request: web.Request) -> web.Response:
        blob = self.attachment_blobs.get(int(request.match_info["attachment_id"]))
        if blob is None:
            return web.Response(status=404)
        ctype, data = blob
        return web.Response(body=data, headers={"Content-Type": ctype or "application/octet-stream"})

    async def _outside_api(self, request: web.Request) -> web.Response:
        rec = RecordedRequest(request.method, request.path, dict(request.query), dict(request.headers), status=404)
        self.requests.append(rec)
        self.unknown_routes.append(rec)
        return web.Response(
            status=404, body=b'{"message": "404: Not Found", "code": 0}', headers={"Content-Type": "application/json"}
        )

    # ------------------------------------------------------------- waiting

    def notify(self) -> None:
        """Wake every waiter (they re-check their predicates)."""
        ev, self._changed = self._changed, asyncio.Event()
        ev.set()

    def _check_loop(self) -> None:
        if self._loop is not None and asyncio.get_running_loop() is not self._loop:
            raise RuntimeError(
                "FakeDiscord was started on a different event loop than the one this code runs on. "
                "With pytest-asyncio, run the test on the same loop as the fixture: "
                "pytestmark = pytest.mark.asyncio(loop_scope='session') "
                "(or asyncio_default_test_loop_scope = 'session')."
            )

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "a condition") -> None:
        self._check_loop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}.{self._debug_tail()}")
            ev = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ev.wait(), remaining)

    def _debug_tail(self) -> str:
        lines = [f"  {r}" for r in self.requests[-8:]]
        gw = f"gateway: identifies={self.identify_count} resumes={self.resume_count} connected={self.connected}"
        return "\n" + gw + ("\nlast REST requests:\n" + "\n".join(lines) if lines else "\nno REST requests yet")

    @property
    def identify_count(self) -> int:
        return self.gateway.identify_count

    @property
    def resume_count(self) -> int:
        return self.gateway.resume_count

    @property
    def ready_count(self) -> int:
        return self.gateway.ready_count

    @property
    def connected(self) -> bool:
        s = self.gateway.current
        return s is not None and s.conn is not None and not s.conn.closed

    @property
    def intents(self) -> int | None:
        s = self.gateway.current
        return s.intents if s else None

    async def wait_for_identify(self, count: int = 1, timeout: float = 10.0) -> None:
        await self.wait_until(lambda: self.identify_count >= count, timeout, f"IDENTIFY #{count}")

    async def wait_for_ready(self, count: int = 1, timeout: float = 10.0) -> None:
        """READY and every GUILD_CREATE have been sent (count-th time)."""
        await self.wait_until(lambda: self.ready_count >= count, timeout, f"READY #{count}")

    async def wait_for_resume(self, count: int = 1, timeout: float = 10.0) -> None:
        await self.wait_until(lambda: self.resume_count >= count, timeout, f"RESUME #{count}")

    async def wait_for_connected(self, timeout: float = 10.0) -> None:
        """A session exists and has a live websocket (after READY or RESUMED)."""
        await self.wait_until(lambda: self.connected and self.ready_count > 0, timeout, "a live gateway session")

    async def wait_for_commands(self, count: int = 1, timeout: float = 10.0) -> None:
        """The bot synced (PUT) its application commands ``count`` times."""
        await self.wait_until(lambda: self.command_syncs >= count, timeout, f"command sync #{count}")

    # -------------------------------------------------------- fault injection

    async def drop_gateway(self, code: int | None = 4000) -> None:
        """Close the bot's websocket (code None = drop TCP without a close frame)."""
        await self.gateway.drop(code)

    async def send_reconnect(self) -> None:
        """Send op 7 RECONNECT: the bot should reconnect and RESUME."""
        await self.gateway.send_reconnect()

    async def send_invalid_session(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION: the bot should RESUME (True) or re-IDENTIFY (False)."""
        await self.gateway.send_invalid_session(resumable)

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 429,
        retry_after: float = 0.2,
        count: int = 1,
        *,
        is_global: bool = False,
        body: Any = None,
    ) -> FaultRule:
        """Answer the next ``count`` matching REST requests with ``status``.

        ``path_regex`` is searched in the path without the /api/v10 prefix,
        e.g. ``r"/channels/\\d+/messages$"``. ``method`` may be "*".
        """
        rule = FaultRule(method.upper(), re.compile(path_regex), status, retry_after, count, is_global, body)
        self.fault_rules.append(rule)
        return rule

    # --------------------------------------------------------- raw dispatch

    async def dispatch(self, event: str, data: dict[str, Any]) -> int:
        """Send an arbitrary gateway DISPATCH event to the bot; returns its sequence number."""
        self._check_loop()
        return await self.gateway.dispatch(event, data)

    def _dispatch_soon(self, event: str, data: dict[str, Any], intent: int = Intents.GUILDS) -> None:
        # World changes after the bot connected are announced like Discord would.
        session = self.gateway.session_for_event(data)
        if session is None or self._loop is None or not session.has_intent(intent):
            return
        task = self._loop.create_task(self.gateway.dispatch(event, data))
        self._tasks.add(task)  # keep a reference until done (asyncio only keeps weak ones)
        task.add_done_callback(self._tasks.discard)

    async def _ensure_connected(self, guild: FakeGuild | None = None, timeout: float = 10.0) -> None:
        # A dropped-but-resumable session is fine (events are buffered for RESUME);
        # an invalidated one is not (Discord would drop the event), so wait for the new one.
        def usable() -> bool:
            s = self.gateway.session_for(guild.id if guild else None)
            return s is not None and s.ready_sent and (s.resumable or s.conn is not None)

        await self.wait_until(usable, timeout, "a usable gateway session (bot identified, on the guild's shard)")

    # -------------------------------------------------------- interactions

    def _find_command(self, name: str, guild: FakeGuild | None, ctype: int = 1) -> tuple[dict[str, Any] | None, bool]:
        if guild is not None:
            for c in self.guild_commands.get(guild.id, []):
                if c["name"] == name and c["type"] == ctype:
                    return c, True
        for c in self.global_commands:
            if c["name"] == name and c["type"] == ctype:
                return c, False
        return None, False

    def _require_offered(self, name: str, guild: FakeGuild, perms: int) -> None:
        """Discord's clients offer a command only to members holding its default_member_permissions ("0": to
        administrators only), unless a server admin overrides that in Integrations, which is not modelled. A
        forged interaction (``member_permissions`` given) gets through: the bot must check for itself."""
        cmd, _ = self._find_command(name, guild)
        needed = None if cmd is None else cmd.get("default_member_permissions")
        if needed is None:
            return
        if (int(needed) & ~perms) or (int(needed) == 0 and not perms & Perm.ADMINISTRATOR):
            raise PermissionError(f"Discord does not offer /{name} to this member (default_member_permissions {needed})")

    async def send_slash_command(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        guild_id: Any = _DEFAULT,
        channel_id: Any = _DEFAULT,
        user: FakeUser | FakeMember | int | str | None = None,
        member_roles: Sequence[FakeRole | int | str] | None = None,
        member_permissions: str | int | None = None,
        app_permissions: str | int | None = None,
        subcommand: str | Sequence[str] | None = None,
        locale: str = "en-US",
        require_synced: bool = False,
    ) -> InteractionHandle:
        """Dispatch a CHAT_INPUT command (INTERACTION_CREATE type 2).

        ``guild_id=None`` sends it in the bot's DM with ``user``. Option types come
        from the synced command definition when available, else from Python types
        (str 3, int 4, bool 5, FakeUser/FakeMember 6, FakeChannel 7, FakeRole 8,
        float 10, FakeAttachment 11).
        """
        data = self._command_data(name, options or {}, guild_id, subcommand, require_synced, focused=None)
        return await self._dispatch_interaction(
            InteractionType.APPLICATION_COMMAND,
            data,
            guild=guild_id,
            channel=channel_id,
            user=user,
            member_roles=member_roles,
            member_permissions=member_permissions,
            app_permissions=app_permissions,
            locale=locale,
            name=name,
        )

    async def send_autocomplete(
        self,
        name: str,
        options: dict[str, Any],
        focused: str,
        *,
        guild_id: Any = _DEFAULT,
        channel_id: Any = _DEFAULT,
        user: FakeUser | FakeMember | int | str | None = None,
        subcommand: str | Sequence[str] | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Dispatch an autocomplete interaction (type 4); await ``handle.wait_choices()``."""
        data = self._command_data(name, options, guild_id, subcommand, False, focused=focused)
        return await self._dispatch_interaction(
            InteractionType.AUTOCOMPLETE, data, guild=guild_id, channel=channel_id, user=user, locale=locale, name=name
        )

    def _command_data(
        self,
        name: str,
        options: dict[str, Any],
        guild_ref: Any,
        subcommand: str | Sequence[str] | None,
        require_synced: bool,
        focused: str | None,
    ) -> dict[str, Any]:
        guild = self._resolve_guild(guild_ref)
        cmd, is_guild_cmd = self._find_command(name, guild)
        if cmd is None:
            if require_synced:
                raise LookupError(
                    f"command {name!r} was not synced (registered: {[c['name'] for c in self.global_commands]})"
                )
            log.debug("command %r not synced; inferring option types", name)
        elif guild is None:
            contexts = cmd.get("contexts")
            if (contexts is not None and 1 not in contexts) or cmd.get("dm_permission") is False:
                raise ValueError(f"command {name!r} is not available in DMs (contexts={contexts})")
        path, holder = find_subcommand(cmd, subcommand)
        resolved = ResolvedCollector()
        opts = build_options(
            options, holder if cmd is not None else None, resolved, self._convert_option(guild), focused=focused
        )
        data: dict[str, Any] = {
            "id": cmd["id"] if cmd else str(abs(hash(("cmd", name))) % (1 << 60)),
            "name": name,
            "type": 1,
        }
        if path or opts:
            data["options"] = nest_subcommand(path, opts)
        if resolved.to_payload():
            data["resolved"] = resolved.to_payload()
        if is_guild_cmd and guild is not None:
            data["guild_id"] = str(guild.id)
        return data

    def _convert_option(self, guild: FakeGuild | None) -> Callable[[int, Any, ResolvedCollector], Any]:
        def convert(opt_type: int, value: Any, resolved: ResolvedCollector) -> Any:
            if opt_type == OptionType.STRING:
                return str(value)
            if opt_type == OptionType.INTEGER:
                return int(value)
            if opt_type == OptionType.BOOLEAN:
                return bool(value)
            if opt_type == OptionType.NUMBER:
                return float(value)
            if opt_type == OptionType.ROLE or (opt_type == OptionType.MENTIONABLE and isinstance(value, FakeRole)):
                if guild is None:
                    raise ValueError("role options need a guild")
                role = guild.get_role(value)
                resolved.roles[str(role.id)] = role.to_payload()
                return str(role.id)
            if opt_type in (OptionType.USER, OptionType.MENTIONABLE):
                user = self._resolve_user(value)
                resolved.users[str(user.id)] = user.to_payload()
                member = guild.get_member(user) if guild else None
                if member is not None and guild is not None:
                    mp = member.to_payload(with_user=False)
                    mp["permissions"] = str(guild.base_permissions(member))
                    resolved.members[str(user.id)] = mp
                return str(user.id)
            if opt_type == OptionType.CHANNEL:
                ch = (
                    value
                    if isinstance(value, FakeChannel)
                    else (guild.get_channel(value) if guild else self.find_channel(int(value)))
                )
                if ch is None:
                    raise ValueError(f"unknown channel {value!r}")
                payload = {"id": str(ch.id), "name": ch.name, "type": ch.type, "permissions": str(Perm.ALL), "flags": 0}
                if ch.guild_id:
                    payload["guild_id"] = str(ch.guild_id)
                if ch.parent_id:
                    payload["parent_id"] = str(ch.parent_id)
                resolved.channels[str(ch.id)] = payload
                return str(ch.id)
            if opt_type == OptionType.ATTACHMENT:
                att = value if isinstance(value, FakeAttachment) else FakeAttachment(str(value), b"")
                resolved.attachments[str(att.id)] = self._attachment_payload(att, channel_id=0, ephemeral=True)
                return str(att.id)
            raise ValueError(f"unsupported option type {opt_type}")

        return convert

    async def click_button(
        self,
        message: FakeMessage | int,
        custom_id: str,
        *,
        user: FakeUser | FakeMember | int | str | None = None,
        component_type: int = 2,
        values: Sequence[str] | None = None,
    ) -> InteractionHandle:
        """Click a component on a message the bot sent (INTERACTION_CREATE type 3)."""
        msg = self.messages.get(message.id if isinstance(message, FakeMessage) else int(message))
        if msg is None or msg.deleted:
            raise LookupError(f"unknown message {message!r}")
        comp = find_component(msg, custom_id)
        if comp is None:
            raise LookupError(f"message {msg.id} has no component {custom_id!r} (has {msg.custom_ids()})")
        if comp.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled; a user cannot click it")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": comp.get("type", component_type)}
        if values is not None:
            data["values"] = list(values)
        guild = self.get_guild(msg.guild_id) if msg.guild_id else None
        return await self._dispatch_interaction(
            InteractionType.MESSAGE_COMPONENT,
            data,
            guild=guild,
            channel=self.find_channel(msg.channel_id),
            user=user,
            message=msg,
            custom_id=custom_id,
        )

    async def select_menu(
        self, message: FakeMessage | int, custom_id: str, values: Sequence[str], **kw: Any
    ) -> InteractionHandle:
        return await self.click_button(message, custom_id, component_type=3, values=values, **kw)

    async def submit_modal(
        self,
        handle: InteractionHandle,
        values: dict[str, str | Sequence[str]],
        *,
        user: FakeUser | FakeMember | int | str | None = None,
    ) -> InteractionHandle:
        """Submit the modal the bot opened in ``handle`` (INTERACTION_CREATE type 5)."""
        if handle.modal is None:
            raise ValueError(f"interaction {handle.describe()} did not answer with a modal")
        modal = handle.modal

        def fill(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out = []
            for c in components:
                if c.get("type") == 1:
                    out.append({"type": 1, "components": fill(c.get("components") or [])})
                elif c.get("type") == 18 and isinstance(c.get("component"), dict):
                    out.append({"type": 18, "component": fill([c["component"]])[0]})
                elif "custom_id" in c:
                    item: dict[str, Any] = {"type": c["type"], "custom_id": c["custom_id"]}
                    if c["type"] == 4:
                        item["value"] = values.get(c["custom_id"], c.get("value") or "")
                    else:
                        v: Any = values.get(c["custom_id"], [])
                        item["values"] = list(v) if isinstance(v, (list, tuple)) else [v]
                    out.append(item)
            return out

        data = {"custom_id": modal.get("custom_id"), "components": fill(modal.get("components") or [])}
        msg = self.messages.get(handle.component_message_id or 0)
        guild = self.get_guild(handle.guild_id) if handle.guild_id else None
        return await self._dispatch_interaction(
            InteractionType.MODAL_SUBMIT,
            data,
            guild=guild,
            channel=self.find_channel(handle.channel_id or 0),
            user=user or handle.user,
            message=msg,
            custom_id=modal.get("custom_id"),
            parent=handle,
        )

    async def _dispatch_interaction(
        self,
        itype: int,
        data: dict[str, Any],
        *,
        guild: Any = _DEFAULT,
        channel: Any = _DEFAULT,
        user: Any = None,
        member_roles: Sequence[FakeRole | int | str] | None = None,
        member_permissions: str | int | None = None,
        app_permissions: str | int | None = None,
        locale: str = "en-US",
        message: FakeMessage | None = None,
        name: str | None = None,
        custom_id: str | None = None,
        parent: InteractionHandle | None = None,
    ) -> InteractionHandle:
        self._check_loop()
        g = self._resolve_guild(guild)
        await self._ensure_connected(g)
        u = self._resolve_user(user)
        ch = self._resolve_channel(channel, g, u)
        iid = new_id()
        token = new_interaction_token(iid)
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "channel_id": str(ch.id),
        }
        if g is not None:
            member = g.get_member(u)
            if member is None:
                member = self.add_member(g, u)
            member = copy.copy(member)
            if member_roles is not None:
                member.roles = [g.get_role(r).id for r in member_roles]
            perms = g.channel_permissions(member, ch) if member_permissions is None else int(member_permissions)
            if itype == InteractionType.APPLICATION_COMMAND and member_permissions is None and name is not None:
                self._require_offered(name, g, perms)
            mp = member.to_payload()
            mp["permissions"] = str(perms)
            bot_member = g.get_member(self.bot_user)
            bot_perms = g.channel_permissions(bot_member, ch) if bot_member else 0
            chp = ch.to_payload()
            chp["permissions"] = str(perms)
            payload.update(
                {
                    "guild_id": str(g.id),
                    "guild": {"id": str(g.id), "locale": g.locale, "features": []},
                    "guild_locale": g.locale,
                    "member": mp,
                    "channel": chp,
                    "app_permissions": str(bot_perms if app_permissions is None else int(app_permissions)),
                    "authorizing_integration_owners": {"0": str(g.id)},
                    "context": 0,
                }
            )
        else:
            payload.update(
                {
                    "user": u.to_payload(),
                    "channel": ch.to_payload(),
                    "app_permissions": str(Perm.DEFAULT_BOT if app_permissions is None else int(app_permissions)),
                    "authorizing_integration_owners": {"0": "0"},
                    "context": 1,
                }
            )
        if message is not None:
            payload["message"] = message_payload(message)
        handle = InteractionHandle(
            fake=self,
            id=iid,
            token=token,
            type=itype,
            payload=payload,
            name=name,
            custom_id=custom_id,
            guild_id=g.id if g else None,
            channel_id=ch.id,
            user=u,
            component_message_id=message.id if message is not None else None,
            parent=parent,
        )
        self.interactions[iid] = handle
        self.interactions_by_token[token] = handle
        if self.interaction_timeout is not None:
            assert self._loop is not None
            handle._expiry = self._loop.call_later(self.interaction_timeout, self._expire, handle)
        handle.dispatched_at = time.perf_counter()
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        return handle

    def _expire(self, handle: InteractionHandle) -> None:
        if handle.callback is None:
            handle.failed = (
                f"the bot did not acknowledge it within {self.interaction_timeout}s "
                "(Discord shows 'The application did not respond')"
            )
            self.notify()

    # ------------------------------------------------------------ messages

    async def send_message(
        self,
        content: str = "",
        *,
        channel_id: Any = _DEFAULT,
        guild_id: Any = _DEFAULT,
        author: FakeUser | FakeMember | int | str | None = None,
        mentions: Sequence[FakeUser | FakeMember | int] = (),
        reply_to: FakeMessage | int | None = None,
        attachments: Sequence[FakeAttachment] = (),
        embeds: Sequence[dict[str, Any]] = (),
    ) -> FakeMessage:
        """A user posts a message (MESSAGE_CREATE). ``guild_id=None`` means a DM to the bot.

        Mentions listed in ``mentions`` are prepended to the content as ``<@id>``
        unless already present (Discord derives mentions from the content).
        """
        self._check_loop()
        u = self._resolve_user(author)
        g = self._resolve_guild(guild_id)
        if g is None and channel_id not in (_DEFAULT, None):
            ch = self.get_channel_or_error(int(channel_id.id if isinstance(channel_id, FakeChannel) else channel_id))
        else:
            ch = self._resolve_channel(channel_id, g, u)
        if ch.guild_id is not None and g is None:
            g = self.get_guild(ch.guild_id)
        elif ch.is_dm:
            g = None
        await self._ensure_connected(g)
        prefix = ""
        for m in mentions:
            mu = self._resolve_user(m)
            if f"<@{mu.id}>" not in content and f"<@!{mu.id}>" not in content:
                prefix += f"<@{mu.id}> "
        content = prefix + content
        msg = FakeMessage(
            id=new_id(), channel_id=ch.id, guild_id=g.id if g else None, author=u, content=content, source="user"
        )
        msg.embeds = [dict(e) for e in embeds]
        msg.attachments = [self._attachment_payload(a, ch.id) for a in attachments]
        if reply_to is not None:
            target = self.messages.get(reply_to.id if isinstance(reply_to, FakeMessage) else int(reply_to))
            if target is None:
                raise LookupError(f"unknown message {reply_to!r}")
            msg.type = 19
            msg.message_reference = {"type": 0, "message_id": str(target.id), "channel_id": str(target.channel_id)}
            if target.guild_id:
                msg.message_reference["guild_id"] = str(target.guild_id)
            msg.referenced_message = _basic(message_payload(target))
        self._set_mentions(msg, None, g)
        self.messages[msg.id] = msg
        ch.last_message_id = msg.id
        await self._dispatch_message_event("MESSAGE_CREATE", msg)
        self.notify()
        return msg.snapshot()

    def bot_messages(
        self, channel: FakeChannel | int | None = None, *, include_ephemeral: bool = True
    ) -> list[FakeMessage]:
        cid = channel.id if isinstance(channel, FakeChannel) else channel
        return [
            m.snapshot()
            for m in sorted(self.messages.values(), key=lambda m: m.id)
            if m.author.id == self.bot_user.id
            and (cid is None or m.channel_id == cid)
            and (include_ephemeral or not m.ephemeral)
        ]

    async def wait_for_channel_message(
        self,
        channel_id: FakeChannel | int | str,
        timeout: float = 10.0,
        predicate: Callable[[FakeMessage], bool] | None = None,
        *,
        include_interactions: bool = False,
    ) -> FakeMessage:
        """Wait for the next message the bot posts in a channel (incl. DMs and replies).

        Each message is returned at most once across calls, so call it repeatedly
        to walk through the bot's messages in order. By default only messages from
        POST /channels/{id}/messages count; ``include_interactions`` adds
        non-ephemeral interaction responses and followups.
        """
        if isinstance(channel_id, FakeChannel):
            cid = channel_id.id
        elif isinstance(channel_id, str) and not channel_id.isdigit():
            cid = self.guild.get_channel(channel_id).id
        else:
            cid = int(channel_id)
        return await self._wait_bot_message(
            lambda m: m.channel_id == cid, timeout, predicate, include_interactions, f"a bot message in channel {cid}"
        )

    async def wait_for_dm(
        self,
        user: FakeUser | int | str | None = None,
        timeout: float = 10.0,
        predicate: Callable[[FakeMessage], bool] | None = None,
    ) -> FakeMessage:
        """Wait for the next message the bot sends in its DM with ``user``."""
        u = self._resolve_user(user)

        def in_dm(m: FakeMessage) -> bool:
            ch = self.dm_channels.get(u.id)
            return ch is not None and m.channel_id == ch.id

        return await self._wait_bot_message(in_dm, timeout, predicate, False, f"a DM from the bot to {u.username}")

    async def _wait_bot_message(
        self,
        where: Callable[[FakeMessage], bool],
        timeout: float,
        predicate: Callable[[FakeMessage], bool] | None,
        include_interactions: bool,
        what: str,
    ) -> FakeMessage:
        found: list[FakeMessage] = []

        def check() -> bool:
            for m in sorted(self.messages.values(), key=lambda m: m.id):
                if m.id in self._consumed or m.author.id != self.bot_user.id or m.deleted or not where(m):
                    continue
                if m.source != "channel" and not (include_interactions and not m.ephemeral and not m.loading):
                    continue
                if predicate is not None and not predicate(m.snapshot()):
                    continue
                found.append(m)
                return True
            return False

        await self.wait_until(check, timeout, what)
        self._consumed.add(found[0].id)
        return found[0].snapshot()

    # ------------------------------------------- message internals (used by rest)

    def _attachment_payload(self, att: FakeAttachment, channel_id: int, *, ephemeral: bool = False) -> dict[str, Any]:
        self.attachment_blobs[att.id] = (att.content_type, att.data)
        url = f"{self.base_url}/attachments/{channel_id}/{att.id}/{att.filename}"
        payload: dict[str, Any] = {
            "id": str(att.id),
            "filename": att.filename,
            "size": len(att.data),
            "url": url,
            "proxy_url": url,
        }
        if att.content_type:
            payload["content_type"] = att.content_type
        if att.description:
            payload["description"] = att.description
        if ephemeral:
            payload["ephemeral"] = True
        return payload

    def _require_perms(self, channel: FakeChannel, needed: int) -> None:
        if channel.is_dm or channel.guild_id is None:
            return
        guild = self.get_guild(channel.guild_id)
        member = guild.get_member(self.bot_user)
        have = guild.channel_permissions(member, channel) if member else 0
        if not have & Perm.VIEW_CHANNEL:
            raise DiscordError(403, 50001, "Missing Access")
        if needed & ~have:
            raise DiscordError(403, 50013, "Missing Permissions")

    def _check_message_rules(self, data: dict[str, Any], files: list[UploadedFile], *, result: FakeMessage) -> None:
        """Rules Discord enforces that the OpenAPI schema doesn't express."""
        content = result.content or ""
        if len(content) > MAX_CONTENT:
            raise RuleViolation(400, 50035, f"content: Must be {MAX_CONTENT} or fewer in length (got {len(content)}).")
        total = 0
        for e in result.embeds:
            total += len(e.get("title") or "") + len(e.get("description") or "")
            total += len((e.get("footer") or {}).get("text") or "") + len((e.get("author") or {}).get("name") or "")
            for f in e.get("fields") or []:
                total += len(f.get("name") or "") + len(f.get("value") or "")
        if total > MAX_EMBED_TOTAL:
            raise RuleViolation(
                400, 50035, f"embeds: total text is {total} characters, Discord allows {MAX_EMBED_TOTAL}."
            )
        if not (
            content
            or result.embeds
            or result.components
            or result.attachments
            or data.get("sticker_ids")
            or data.get("poll")
        ):
            raise RuleViolation(400, 50006, "Cannot send an empty message")

    def _apply_fields(
        self, msg: FakeMessage, data: dict[str, Any], files: list[UploadedFile], *, creating: bool
    ) -> None:
        """Apply a create/edit payload to a copy of ``msg``, check it, then commit."""
        new = copy.copy(msg)
        if "content" in data:
            new.content = data.get("content") or ""
        if "embeds" in data:
            new.embeds = [_embed_response(e) for e in data.get("embeds") or []]
        elif data.get("embed"):
            new.embeds = [_embed_response(data["embed"])]
        if "components" in data:
            new.components = list(data.get("components") or [])
        if "allowed_mentions" in data:
            new.allowed_mentions = data.get("allowed_mentions")
        if creating:
            new.tts = bool(data.get("tts") or False)
            new.nonce = data.get("nonce")
        new.attachments = self._merge_attachments(msg, data, files)
        new.files = list(msg.files) + list(files)
        self._check_message_rules(data, files, result=new)
        msg.__dict__.update(new.__dict__)
        msg.request_payload = data
        guild = self.get_guild(msg.guild_id) if msg.guild_id else None
        self._set_mentions(msg, msg.allowed_mentions, guild, mark_bot_message=True)

    def _merge_attachments(
        self, msg: FakeMessage, data: dict[str, Any], files: list[UploadedFile]
    ) -> list[dict[str, Any]]:
        uploads: dict[int, UploadedFile] = {}
        for f in files:
            m = re.fullmatch(r"files\[(\d+)\]", f.field_name)
            uploads[int(m.group(1)) if m else len(uploads)] = f
        ephemeral = msg.ephemeral

        def new_att(index: int, meta: dict[str, Any]) -> dict[str, Any]:
            f = uploads[index]
            att = FakeAttachment(
                meta.get("filename") or f.filename or f"file{index}", f.data, f.content_type, meta.get("description")
            )
            return self._attachment_payload(att, msg.channel_id, ephemeral=ephemeral)

        if "attachments" not in data:
            return list(msg.attachments) + [new_att(i, {}) for i in sorted(uploads)]
        existing = {a["id"]: a for a in msg.attachments}
        out = []
        used = set()
        for meta in data.get("attachments") or []:
            aid = str(meta.get("id"))
            if aid in existing:
                out.append(existing[aid])
            elif aid.isdigit() and int(aid) in uploads:
                out.append(new_att(int(aid), meta))
                used.add(int(aid))
        out += [new_att(i, {}) for i in sorted(uploads) if i not in used]
        return out

    def _set_mentions(
        self,
        msg: FakeMessage,
        allowed: dict[str, Any] | None,
        guild: FakeGuild | None,
        *,
        mark_bot_message: bool = False,
    ) -> None:
        """Compute who is pinged, honouring allowed_mentions like Discord."""
        parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse") or [])
        allowed_users = {int(x) for x in (allowed or {}).get("users") or []}
        allowed_roles = {int(x) for x in (allowed or {}).get("roles") or []}
        users: list[FakeUser] = []
        for uid in dict.fromkeys(int(x) for x in MENTION_RE.findall(msg.content)):
            if ("users" in parse or uid in allowed_users) and uid in self.users:
                users.append(self.users[uid])
        if msg.message_reference and msg.referenced_message:
            replied = allowed is None or bool(allowed.get("replied_user"))
            author_id = int(msg.referenced_message["author"]["id"])
            if replied and author_id in self.users and all(u.id != author_id for u in users):
                users.append(self.users[author_id])
        roles = [
            int(r)
            for r in dict.fromkeys(ROLE_MENTION_RE.findall(msg.content))
            if "roles" in parse or int(r) in allowed_roles
        ]
        if guild is not None:
            roles = [r for r in roles if any(x.id == r for x in guild.roles)]
        msg.mentions = users
        msg.mention_roles = roles
        msg.mention_everyone = "everyone" in parse and ("@everyone" in msg.content or "@here" in msg.content)

    async def _create_channel_message(
        self, channel_id: int, data: dict[str, Any], files: list[UploadedFile]
    ) -> FakeMessage:
        ch = self.get_channel_or_error(channel_id)
        if ch.is_dm:
            if ch.recipients and ch.recipients[0].id in self.blocked_dm_users:
                raise DiscordError(403, 50007, "Cannot send messages to this user")
        else:
            needed = Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES
            if files:
                needed |= Perm.ATTACH_FILES
            if data.get("message_reference"):
                needed |= Perm.READ_MESSAGE_HISTORY
            self._require_perms(ch, needed)
        msg = FakeMessage(id=new_id(), channel_id=ch.id, guild_id=ch.guild_id, author=self.bot_user, source="channel")
        ref = data.get("message_reference")
        if ref:
            target = self.messages.get(int(ref.get("message_id") or 0))
            if target is None or target.deleted or target.ephemeral:
                if ref.get("fail_if_not_exists", True):
                    raise DiscordError(
                        400,
                        50035,
                        "Invalid Form Body",
                        {
                            "message_reference": {
                                "_errors": [{"code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "message": "Unknown message"}]
                            }
                        },
                    )
            else:
                msg.type = 19
                msg.message_reference = {
                    "type": int(ref.get("type") or 0),
                    "message_id": str(target.id),
                    "channel_id": str(target.channel_id),
                }
                if target.guild_id:
                    msg.message_reference["guild_id"] = str(target.guild_id)
                msg.referenced_message = _basic(message_payload(target))
        flags = int(data.get("flags") or 0)
        if flags & MessageFlags.EPHEMERAL:
            raise RuleViolation(400, 50035, "flags: EPHEMERAL is only valid for interaction responses")
        msg.flags = flags & _SETTABLE_FLAGS
        self._apply_fields(msg, data, files, creating=True)
        self.messages[msg.id] = msg
        ch.last_message_id = msg.id
        await self._echo_message("MESSAGE_CREATE", msg)
        self.notify()
        return msg

    async def _create_interaction_message(
        self,
        h: InteractionHandle,
        data: dict[str, Any],
        files: list[UploadedFile],
        *,
        loading: bool,
        followup: bool = False,
    ) -> FakeMessage:
        flags = int(data.get("flags") or 0)
        msg = FakeMessage(
            id=new_id(),
            channel_id=h.channel_id or 0,
            guild_id=h.guild_id,
            author=self.bot_user,
            type=20 if h.type == InteractionType.APPLICATION_COMMAND else 0,
            webhook_id=self.application_id,
            application_id=self.application_id,
            source="followup" if followup else "interaction",
            interaction_id=h.id,
            flags=(flags & MessageFlags.EPHEMERAL) | MessageFlags.LOADING if loading else flags & _SETTABLE_FLAGS,
        )
        meta = h.metadata()
        msg.interaction_metadata = meta
        if not loading:
            self._apply_fields(msg, data, files, creating=True)
        self.messages[msg.id] = msg
        await self._echo_message("MESSAGE_CREATE", msg)
        return msg

    def _apply_message_edit(
        self, msg: FakeMessage, data: dict[str, Any], files: list[UploadedFile], *, followup: bool = False
    ) -> None:
        was_loading = msg.loading
        if "flags" in data and data["flags"] is not None and not was_loading:
            # Only SUPPRESS_EMBEDS can be toggled on an existing message.
            keep = msg.flags & ~(1 << 2)
            msg.flags = keep | (int(data["flags"]) & (1 << 2))
        self._apply_fields(msg, data, files, creating=was_loading)
        if was_loading:
            msg.flags &= ~MessageFlags.LOADING
            msg.created_at = time.perf_counter()
            msg.timestamp = iso_now()
        else:
            msg.edited_timestamp = iso_now()
            msg.edited_at = time.perf_counter()
            msg.edits += 1

    async def delete_message(self, message: FakeMessage | int) -> None:
        """Its author deletes a message (MESSAGE_DELETE)."""
        await self._delete_message(self.messages[message.id if isinstance(message, FakeMessage) else int(message)])

    async def _delete_message(self, msg: FakeMessage) -> None:
        msg.deleted = True
        if not msg.ephemeral:
            data: dict[str, Any] = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            if msg.guild_id:
                data["guild_id"] = str(msg.guild_id)
            await self._dispatch_to_session(
                "MESSAGE_DELETE", data, Intents.DIRECT_MESSAGES if msg.guild_id is None else Intents.GUILD_MESSAGES
            )
        self.notify()

    async def _echo_message(self, event: str, msg: FakeMessage) -> None:
        # Discord echoes the bot's own non-ephemeral messages over the gateway.
        if not self.echo_bot_messages or msg.ephemeral:
            return
        await self._dispatch_message_event(event, msg)

    async def _dispatch_message_event(self, event: str, msg: FakeMessage) -> None:
        session = self.gateway.session_for(msg.guild_id)
        if session is None:
            return
        intent = Intents.DIRECT_MESSAGES if msg.guild_id is None else Intents.GUILD_MESSAGES
        if not session.has_intent(intent):
            return
        data = message_payload(msg)
        if msg.guild_id is not None:
            guild = self.get_guild(msg.guild_id)
            data["guild_id"] = str(guild.id)
            member = guild.get_member(msg.author)
            if member is not None and msg.webhook_id is None:
                data["member"] = member.to_payload(with_user=False)
            for mention in data["mentions"]:
                mm = guild.get_member(int(mention["id"]))
                if mm is not None:
                    mention["member"] = mm.to_payload(with_user=False)
        # Without the MESSAGE_CONTENT intent Discord blanks content in guild messages
        # that neither come from nor mention the bot.
        if (
            msg.guild_id is not None
            and not session.has_intent(Intents.MESSAGE_CONTENT)
            and msg.author.id != self.bot_user.id
            and self.bot_user.id not in msg.pinged_user_ids
        ):
            data.update({"content": "", "embeds": [], "attachments": [], "components": []})
            data.pop("poll", None)
        await self.gateway.dispatch(event, data, session=session)

    async def _dispatch_to_session(self, event: str, data: dict[str, Any], intent: int) -> None:
        session = self.gateway.session_for_event(data)
        if session is not None and session.has_intent(intent):
            await self.gateway.dispatch(event, data, session=session)

    # ------------------------------------------------------------ payloads

    @property
    def application_flags(self) -> int:
        flags = 1 << 23  # APPLICATION_COMMAND_BADGE
        if self.privileged_intents & Intents.MESSAGE_CONTENT:
            flags |= 1 << 18  # GATEWAY_MESSAGE_CONTENT
        if self.privileged_intents & Intents.GUILD_MEMBERS:
            flags |= 1 << 14  # GATEWAY_GUILD_MEMBERS
        if self.privileged_intents & (1 << 8):
            flags |= 1 << 12  # GATEWAY_PRESENCE
        return flags

    def application_payload(self) -> dict[str, Any]:
        owner = self.guilds[0].owner_id if self.guilds else self.bot_user.id
        owner_user = self.users.get(owner, self.bot_user)
        # Optional fields that are not nullable in the spec are simply omitted.
        return {
            "id": str(self.application_id),
            "name": self.bot_user.username,
            "icon": None,
            "description": "",
            "type": None,
            "bot": self.bot_user.to_payload(),
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "integration_types_config": {"0": {}},
            "verify_key": "0" * 64,
            "flags": self.application_flags,
            "flags_new": str(self.application_flags),
            "max_participants": None,
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "owner": owner_user.to_payload(),
            "approximate_guild_count": len(self.guilds),
            "approximate_user_install_count": 0,
            "approximate_user_authorization_count": 0,
            "explicit_content_filter": 0,
            "team": None,
            "eligible_oauth2_scopes": ["applications.commands", "bot"],
        }

    # ---------------------------------------------------------- assertions

    def assert_no_spec_violations(self) -> None:
        """Raise AssertionError listing every request Discord's spec/rules reject."""
        if self.spec_violations:
            listing = "\n  ".join(self.spec_violations)
            raise AssertionError(f"{len(self.spec_violations)} Discord API violation(s) by the bot:\n  {listing}")


def _basic(payload: dict[str, Any]) -> dict[str, Any]:
    """A referenced message (Discord does not nest references further)."""
    payload = dict(payload)
    payload.pop("referenced_message", None)
    payload.pop("message_reference", None)
    return payload


def _embed_response(embed: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in embed.items() if v is not None}
    out.setdefault("type", "rich")
    out.setdefault("content_scan_version", 0)
    return out


class point_discord_py_at:
    """Temporarily aim discord.py's REST base and default gateway at ``fake``.

    Works as ``with`` and ``async with`` (so it can share a line with the fake).
    """

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self._saved: tuple[str, Any] | None = None

    def __enter__(self) -> FakeDiscord:
        import discord.gateway
        import discord.http
        import yarl

        self._saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        discord.http.Route.BASE = self.fake.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.fake.gateway_url)
        return self.fake

    def __exit__(self, *exc: Any) -> None:
        import discord.gateway
        import discord.http

        assert self._saved is not None
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved

    async def __aenter__(self) -> FakeDiscord:
        return self.__enter__()

    async def __aexit__(self, *exc: Any) -> None:
        self.__exit__(*exc)


__all__ = ["FakeDiscord", "point_discord_py_at"]
