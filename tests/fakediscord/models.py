"""Entities of the fake Discord world and builders for their JSON payloads.

Payload shapes follow the Discord API v10 docs / OpenAPI spec (ids are
snowflake strings, timestamps ISO 8601) so that discord.py parses them exactly
like real traffic.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import itertools
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1420070400000


class Snowflakes:
    """Monotonic, time-based snowflakes (discord.utils.snowflake_time works on them)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()
        self._inc = itertools.count()

    def next(self, shard: tuple[int, int] | None = None) -> int:
        """``shard=(shard_id, shard_count)``: a guild id Discord would route to that shard (a few ms ahead)."""
        with self._lock:
            value = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22 | (1 << 17) | (next(self._inc) & 0xFFF)
            if value <= self._last:
                value = self._last + 1
            if shard is not None:
                shard_id, shard_count = shard
                value += ((shard_id - (value >> 22)) % shard_count) << 22
            self._last = value
            return value


SNOWFLAKES = Snowflakes()


def new_id(shard: tuple[int, int] | None = None) -> int:
    return SNOWFLAKES.next(shard)


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard Discord sends a guild's events to; direct messages go to shard 0."""
    return 0 if guild_id is None else (guild_id >> 22) % shard_count


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def snowflake_iso(snowflake: int) -> str:
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()


class Perm:
    """Permission bits we care about (https://discord.com/developers/docs/topics/permissions)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    USE_APPLICATION_COMMANDS = 1 << 31
    CREATE_PUBLIC_THREADS = 1 << 35
    SEND_MESSAGES_IN_THREADS = 1 << 38

    ALL = (1 << 51) - 1
    # Roughly what a fresh guild grants @everyone.
    DEFAULT_EVERYONE = (
        CREATE_INSTANT_INVITE
        | ADD_REACTIONS
        | VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | USE_EXTERNAL_EMOJIS
        | CONNECT
        | SPEAK
        | CHANGE_NICKNAME
        | USE_APPLICATION_COMMANDS
        | CREATE_PUBLIC_THREADS
        | SEND_MESSAGES_IN_THREADS
    )
    # What a typical invite link grants a bot through its managed role.
    DEFAULT_BOT = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY | ADD_REACTIONS


class ChannelType:
    GUILD_TEXT = 0
    DM = 1
    GUILD_VOICE = 2
    GUILD_CATEGORY = 4
    GUILD_ANNOUNCEMENT = 5
    PUBLIC_THREAD = 11


class Intents:
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MESSAGES = 1 << 9
    DIRECT_MESSAGES = 1 << 12
    MESSAGE_CONTENT = 1 << 15


class MessageFlags:
    EPHEMERAL = 1 << 6
    LOADING = 1 << 7


# ---------------------------------------------------------------------------
# entities


@dataclass(eq=False)
class FakeUser:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    avatar: str | None = None
    discriminator: str = "0"

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def to_payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "avatar": self.avatar,
            "discriminator": self.discriminator,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "global_name": self.global_name,
            "avatar_decoration_data": None,
            "collectibles": None,
            "primary_guild": None,
        }
        if self.bot:
            data["bot"] = True
        return data

    def to_private_payload(self) -> dict[str, Any]:
        """The /users/@me shape (adds account-only fields)."""
        data = self.to_payload()
        data.update(
            {
                "mfa_enabled": False,
                "locale": "en-US",
                "premium_type": 0,
                "email": None,
                "verified": True,
                "bio": "",
            }
        )
        return data


@dataclass(eq=False)
class FakeRole:
    id: int
    name: str
    permissions: int = 0
    position: int = 0
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False
    bot_id: int | None = None  # set for the bot's managed integration role

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"

    def to_payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "description": None,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": self.color,
            "colors": {"primary_color": self.color, "secondary_color": None, "tertiary_color": None},
            "hoist": self.hoist,
            "managed": self.managed,
            "mentionable": self.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass(eq=False)
class FakeChannel:
    id: int
    name: str | None
    type: int = ChannelType.GUILD_TEXT
    guild_id: int | None = None
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    nsfw: bool = False
    # Discord overwrite objects: {"id": str, "type": 0 role / 1 member, "allow": str, "deny": str}
    permission_overwrites: list[dict[str, Any]] = field(default_factory=list)
    recipients: list[FakeUser] = field(default_factory=list)  # DMs only
    last_message_id: int | None = None

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    @property
    def is_dm(self) -> bool:
        return self.type == ChannelType.DM

    def to_payload(self) -> dict[str, Any]:
        if self.is_dm:
            return {
                "id": str(self.id),
                "type": self.type,
                "last_message_id": str(self.last_message_id) if self.last_message_id else None,
                "flags": 0,
                "recipients": [u.to_payload() for u in self.recipients],
            }
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "flags": 0,
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "permission_overwrites": copy.deepcopy(self.permission_overwrites),
            "nsfw": self.nsfw,
        }
        if self.type in (ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT):
            data.update(
                {
                    "topic": self.topic,
                    "last_message_id": str(self.last_message_id) if self.last_message_id else None,
                    "rate_limit_per_user": 0,
                    "last_pin_timestamp": None,
                }
            )
        return data


@dataclass(eq=False)
class FakeMember:
    user: FakeUser
    roles: list[int] = field(default_factory=list)  # role ids, without @everyone
    nick: str | None = None
    joined_at: str = field(default_factory=iso_now)

    def to_payload(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "avatar": None,
            "banner": None,
            "communication_disabled_until": None,
            "flags": 0,
            "joined_at": self.joined_at,
            "nick": self.nick,
            "pending": False,
            "premium_since": None,
            "roles": [str(r) for r in self.roles],
            "deaf": False,
            "mute": False,
        }
        if with_user:
            data["user"] = self.user.to_payload()
        return data


@dataclass(eq=False)
class FakeGuild:
    id: int
    name: str
    owner_id: int
    channels: list[FakeChannel] = field(default_factory=list)
    roles: list[FakeRole] = field(default_factory=list)
    members: list[FakeMember] = field(default_factory=list)
    locale: str = "en-US"

    # -- lookups --

    @property
    def everyone(self) -> FakeRole:
        return self.get_role(self.id)  # @everyone shares the guild's id

    @property
    def text_channels(self) -> list[FakeChannel]:
        return [c for c in self.channels if c.type == ChannelType.GUILD_TEXT]

    def get_role(self, role: int | str | FakeRole) -> FakeRole:
        if isinstance(role, FakeRole):
            return role
        for r in self.roles:
            if r.id == role or r.name == role:
                return r
        raise KeyError(f"no role {role!r} in guild {self.name}")

    def get_channel(self, channel: int | str | FakeChannel) -> FakeChannel:
        if isinstance(channel, FakeChannel):
            return channel
        for c in self.channels:
            if c.id == channel or c.name == channel:
                return c
        raise KeyError(f"no channel {channel!r} in guild {self.name}")

    def get_member(self, user: int | FakeUser | FakeMember) -> FakeMember | None:
        if isinstance(user, FakeMember):
            return user
        uid = user.id if isinstance(user, FakeUser) else user
        for m in self.members:
            if m.user.id == uid:
                return m
        return None

    # -- permissions (https://discord.com/developers/docs/topics/permissions#permission-overwrites) --

    def base_permissions(self, member: FakeMember) -> int:
        if member.user.id == self.owner_id:
            return Perm.ALL
        perms = self.everyone.permissions
        for rid in member.roles:
            with contextlib.suppress(KeyError):  # a deleted role
                perms |= self.get_role(rid).permissions
        return Perm.ALL if perms & Perm.ADMINISTRATOR else perms

    def channel_permissions(self, member: FakeMember, channel: FakeChannel | None) -> int:
        perms = self.base_permissions(member)
        if perms & Perm.ADMINISTRATOR or channel is None:
            return perms
        ows = {(int(o["id"]), int(o.get("type", 0))): o for o in channel.permission_overwrites}

        def apply(o: dict[str, Any] | None, p: int) -> int:
            if not o:
                return p
            return (p & ~int(o.get("deny", 0))) | int(o.get("allow", 0))

        perms = apply(ows.get((self.id, 0)), perms)
        allow = deny = 0
        for rid in member.roles:
            o = ows.get((rid, 0))
            if o:
                allow |= int(o.get("allow", 0))
                deny |= int(o.get("deny", 0))
        perms = (perms & ~deny) | allow
        return apply(ows.get((member.user.id, 1)), perms)

    # -- payloads --

    def to_create_payload(self, *, include_members: bool = True) -> dict[str, Any]:
        """GUILD_CREATE (gateway) shape."""
        data = self.to_payload()
        data.update(
            {
                "joined_at": iso_now(),
                "large": False,
                "unavailable": False,
                "member_count": len(self.members),
                "voice_states": [],
                "members": [m.to_payload() for m in self.members] if include_members else [],
                "channels": [c.to_payload() for c in self.channels],
                "threads": [],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "lazy": True,
            }
        )
        for ch in data["channels"]:
            ch.pop("guild_id", None)  # channels inside GUILD_CREATE omit guild_id
        return data

    def to_payload(self) -> dict[str, Any]:
        """REST /guilds/{id} shape."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "description": None,
            "home_header": None,
            "splash": None,
            "discovery_splash": None,
            "features": [],
            "banner": None,
            "owner_id": str(self.owner_id),
            "application_id": None,
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "system_channel_id": str(self.text_channels[0].id) if self.text_channels else None,
            "system_channel_flags": 0,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 0,
            "roles": [r.to_payload() for r in self.roles],
            "default_message_notifications": 0,
            "mfa_level": 0,
            "explicit_content_filter": 0,
            "max_presences": None,
            "max_members": 500000,
            "max_stage_video_channel_users": 50,
            "max_video_channel_users": 25,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": self.locale,
            "rules_channel_id": None,
            "safety_alerts_channel_id": None,
            "public_updates_channel_id": None,
            "premium_progress_bar_enabled": False,
            "nsfw": False,
            "nsfw_level": 0,
            "emojis": [],
            "stickers": [],
            "incidents_data": None,
        }


@dataclass
class FakeAttachment:
    """A file a user attaches (to a slash command option or a message)."""

    filename: str
    data: bytes = b""
    content_type: str | None = None
    description: str | None = None
    id: int = field(default_factory=new_id)


@dataclass
class UploadedFile:
    """A file the bot uploaded in a multipart request."""

    field_name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class FakeMessage:
    """A message stored by the fake (sent by the bot, or injected by a test).

    Objects returned to tests are snapshots; ``raw`` is the exact Discord message
    object the fake would return over REST.
    """

    id: int
    channel_id: int
    guild_id: int | None
    author: FakeUser
    content: str = ""
    flags: int = 0
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    allowed_mentions: dict[str, Any] | None = None
    message_reference: dict[str, Any] | None = None
    mentions: list[FakeUser] = field(default_factory=list)
    mention_roles: list[int] = field(default_factory=list)
    mention_everyone: bool = False
    type: int = 0
    tts: bool = False
    nonce: Any = None
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    referenced_message: dict[str, Any] | None = None
    reactions: list[str] = field(default_factory=list)
    files: list[UploadedFile] = field(default_factory=list)
    source: str = "channel"  # "user", "channel", "interaction", "followup"
    interaction_id: int | None = None
    timestamp: str = field(default_factory=iso_now)
    edited_timestamp: str | None = None
    deleted: bool = False
    edits: int = 0
    created_at: float = field(default_factory=time.perf_counter)
    edited_at: float | None = None
    request_payload: dict[str, Any] | None = None  # last JSON the bot sent for it

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & MessageFlags.EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & MessageFlags.LOADING)

    @property
    def pinged_user_ids(self) -> set[int]:
        return {u.id for u in self.mentions}

    def snapshot(self) -> FakeMessage:
        return copy.deepcopy(self)

    @property
    def raw(self) -> dict[str, Any]:
        return message_payload(self)

    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in walk_components(self.components) if "custom_id" in c]


def walk_components(components: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for comp in components or []:
        yield comp
        yield from walk_components(comp.get("components") or [])
        if isinstance(comp.get("component"), dict):
            yield from walk_components([comp["component"]])
        if isinstance(comp.get("accessory"), dict):
            yield from walk_components([comp["accessory"]])


def message_payload(msg: FakeMessage) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": msg.type,
        "content": msg.content,
        "mentions": [u.to_payload() for u in msg.mentions],
        "mention_roles": [str(r) for r in msg.mention_roles],
        "attachments": copy.deepcopy(msg.attachments),
        "embeds": copy.deepcopy(msg.embeds),
        "timestamp": msg.timestamp,
        "edited_timestamp": msg.edited_timestamp,
        "flags": msg.flags,
        "components": _response_components(msg.components),
        "id": str(msg.id),
        "channel_id": str(msg.channel_id),
        "author": msg.author.to_payload(),
        "pinned": False,
        "mention_everyone": msg.mention_everyone,
        "tts": msg.tts,
    }
    if msg.nonce is not None:
        data["nonce"] = msg.nonce
    if msg.webhook_id is not None:
        data["webhook_id"] = str(msg.webhook_id)
    if msg.application_id is not None:
        data["application_id"] = str(msg.application_id)
    if msg.interaction_metadata is not None:
        data["interaction_metadata"] = copy.deepcopy(msg.interaction_metadata)
    if msg.message_reference is not None:
        data["message_reference"] = copy.deepcopy(msg.message_reference)
        data["referenced_message"] = copy.deepcopy(msg.referenced_message)
    if msg.reactions:
        data["reactions"] = [
            {
                "emoji": _emoji_payload(e),
                "count": 1,
                "count_details": {"burst": 0, "normal": 1},
                "burst_colors": [],
                "me_burst": False,
                "me": True,
                "burst_me": False,
                "burst_count": 0,
            }
            for e in msg.reactions
        ]
    return data


def _emoji_payload(emoji: str) -> dict[str, Any]:
    m = re.fullmatch(r"<?a?:?(\w+):(\d+)>?", emoji)
    if m:
        return {"id": m.group(2), "name": m.group(1)}
    return {"id": None, "name": emoji}


def _response_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Responses carry a numeric ``id`` on every component (Discord assigns them)."""
    out = copy.deepcopy(components or [])
    counter = itertools.count(1)
    for comp in walk_components(out):
        comp.setdefault("id", next(counter))
    return out


def guild_message_member(guild: FakeGuild, user: FakeUser) -> dict[str, Any] | None:
    member = guild.get_member(user)
    return member.to_payload(with_user=False) if member else None


MENTION_RE = re.compile(r"<@!?(\d+)>")
ROLE_MENTION_RE = re.compile(r"<@&(\d+)>")
