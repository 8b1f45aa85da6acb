"""Interaction payload builders and the handle tests use to await the bot's answer."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .models import (
    FakeAttachment,
    FakeChannel,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    new_id,
    walk_components,
)

if TYPE_CHECKING:
    from .records import RecordedRequest
    from .server import FakeDiscord


class InteractionType:
    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class CallbackType:
    PONG = 1
    CHANNEL_MESSAGE = 4
    DEFERRED_CHANNEL_MESSAGE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE_RESULT = 8
    MODAL = 9
    LAUNCH_ACTIVITY = 12


# Which callback types Discord accepts for each interaction type.
ALLOWED_CALLBACKS: dict[int, set[int]] = {
    InteractionType.APPLICATION_COMMAND: {4, 5, 9, 12},
    InteractionType.MESSAGE_COMPONENT: {4, 5, 6, 7, 9, 12},
    InteractionType.AUTOCOMPLETE: {8},
    InteractionType.MODAL_SUBMIT: {4, 5, 6, 7},
}


class OptionType:
    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    MENTIONABLE = 9
    NUMBER = 10
    ATTACHMENT = 11


class InteractionFailed(AssertionError):
    """The interaction ended the way a user would see "This interaction failed"."""


@dataclass
class InteractionCallback:
    """The bot's initial response (POST /interactions/{id}/{token}/callback)."""

    type: int
    data: dict[str, Any]
    body: dict[str, Any]  # the full JSON body the bot sent
    at: float  # time.perf_counter()
    request: RecordedRequest | None = None

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.data.get("flags") or 0) & 64)

    @property
    def choices(self) -> list[dict[str, Any]]:
        return list(self.data.get("choices") or [])


@dataclass(eq=False)
class InteractionHandle:
    """Tracks one interaction the fake dispatched to the bot."""

    fake: FakeDiscord = field(repr=False)
    id: int
    token: str
    type: int
    payload: dict[str, Any] = field(repr=False)  # the INTERACTION_CREATE "d"
    name: str | None = None
    custom_id: str | None = None
    guild_id: int | None = None
    channel_id: int | None = None
    user: FakeUser | None = None
    component_message_id: int | None = None  # for component / modal interactions
    parent: InteractionHandle | None = field(default=None, repr=False)  # modal submit -> the opener
    dispatched_at: float = field(default_factory=time.perf_counter)
    callback: InteractionCallback | None = None
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    final_at: float | None = None
    final_message_id: int | None = None
    failed: str | None = None
    modal: dict[str, Any] | None = None  # set when the bot answered with a modal (callback 9)
    rejected: list[RecordedRequest] = field(default_factory=list, repr=False)
    _expiry: asyncio.TimerHandle | None = field(default=None, repr=False)

    # -- timings (seconds) --

    @property
    def response_latency(self) -> float | None:
        """Dispatch -> first accepted callback."""
        return None if self.callback is None else self.callback.at - self.dispatched_at

    @property
    def final_latency(self) -> float | None:
        """Dispatch -> final visible message (see wait_final)."""
        return None if self.final_at is None else self.final_at - self.dispatched_at

    # -- state --

    @property
    def original(self) -> FakeMessage | None:
        if self.original_message_id is None:
            return None
        msg = self.fake.messages.get(self.original_message_id)
        return msg.snapshot() if msg else None

    @property
    def followups(self) -> list[FakeMessage]:
        return [self.fake.messages[i].snapshot() for i in self.followup_ids if i in self.fake.messages]

    # -- waiting --

    async def wait_response(self, timeout: float = 10.0) -> InteractionCallback:
        await self.fake.wait_until(
            lambda: self.callback is not None or self.failed is not None,
            timeout,
            f"the bot's response to interaction {self.describe()}",
        )
        if self.callback is None:
            raise InteractionFailed(f"interaction {self.describe()} failed: {self.failed}")
        return self.callback

    async def wait_final(self, timeout: float = 10.0, *, settle: float = 0.0) -> FakeMessage:
        """Wait for the message the user finally sees.

        * callback 4 (message) or 7 (update): that message;
        * callback 5 (deferred): the original after its first edit (PATCH
          @original) or the first followup, which Discord shows in its place;
        * callback 6 (deferred update): the component's message after an edit
          or the first followup.
        ``settle`` additionally waits until no edit happened for that long.
        """
        cb = await self.wait_response(timeout)
        if cb.type in (CallbackType.AUTOCOMPLETE_RESULT, CallbackType.MODAL):
            raise AssertionError(
                f"interaction {self.describe()} was answered with callback type {cb.type} "
                "(autocomplete/modal): use wait_response() / wait_choices()"
            )
        await self.fake.wait_until(
            lambda: self.final_at is not None or self.failed is not None,
            timeout,
            f"the final message of interaction {self.describe()}",
        )
        if self.final_at is None:
            raise InteractionFailed(f"interaction {self.describe()} failed: {self.failed}")
        if settle > 0:
            while True:
                msg = self._final_message()
                last = msg.edited_at or msg.created_at if msg else self.final_at
                remaining = settle - (time.perf_counter() - last)
                if remaining <= 0:
                    break
                await asyncio.sleep(remaining)
        msg = self._final_message()
        assert msg is not None
        return msg.snapshot()

    async def wait_choices(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        cb = await self.wait_response(timeout)
        if cb.type != CallbackType.AUTOCOMPLETE_RESULT:
            raise AssertionError(f"expected an autocomplete result (8), got callback type {cb.type}")
        return cb.choices

    async def wait_followup(self, index: int = 0, timeout: float = 10.0) -> FakeMessage:
        """Wait for the index-th followup that created a new message."""
        await self.fake.wait_until(
            lambda: len(self.followup_ids) > index,
            timeout,
            f"followup #{index} of interaction {self.describe()}",
        )
        return self.fake.messages[self.followup_ids[index]].snapshot()

    def _final_message(self) -> FakeMessage | None:
        mid = self.final_message_id or self.original_message_id or self.component_message_id
        return self.fake.messages.get(mid) if mid is not None else None

    def _set_final(self, message_id: int, at: float) -> None:
        if self.final_at is None:
            self.final_at = at
            self.final_message_id = message_id

    def metadata(self) -> dict[str, Any]:
        """The ``interaction_metadata`` Discord attaches to messages created by this interaction."""
        meta: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "authorizing_integration_owners": dict(self.payload.get("authorizing_integration_owners", {})),
        }
        if self.user is not None:
            meta["user"] = self.user.to_payload()
        if self.type == InteractionType.APPLICATION_COMMAND:
            meta["name"] = self.name
            meta["command_type"] = 1
        elif self.type == InteractionType.MESSAGE_COMPONENT and self.component_message_id is not None:
            meta["interacted_message_id"] = str(self.component_message_id)
        elif self.type == InteractionType.MODAL_SUBMIT and self.parent is not None:
            meta["triggering_interaction_metadata"] = self.parent.metadata()
        return meta

    def describe(self) -> str:
        what = self.name or self.custom_id or "?"
        return f"{self.id} (type {self.type}, {what!r})"


def new_interaction_token(interaction_id: int) -> str:
    # Real tokens are long opaque base64url strings starting with "aW50ZXJhY3Rpb246".
    return "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48) + str(interaction_id)[-6:]


# ---------------------------------------------------------------------------
# option building


@dataclass
class ResolvedCollector:
    """Builds the ``resolved`` map of an interaction as options are converted."""

    users: dict[str, Any] = field(default_factory=dict)
    members: dict[str, Any] = field(default_factory=dict)
    roles: dict[str, Any] = field(default_factory=dict)
    channels: dict[str, Any] = field(default_factory=dict)
    attachments: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v}


def python_option_type(value: Any) -> int:
    if isinstance(value, bool):
        return OptionType.BOOLEAN
    if isinstance(value, int):
        return OptionType.INTEGER
    if isinstance(value, float):
        return OptionType.NUMBER
    if isinstance(value, (FakeUser, FakeMember)):
        return OptionType.USER
    if isinstance(value, FakeChannel):
        return OptionType.CHANNEL
    if isinstance(value, FakeRole):
        return OptionType.ROLE
    if isinstance(value, FakeAttachment):
        return OptionType.ATTACHMENT
    return OptionType.STRING


def find_subcommand(
    command: Mapping[str, Any] | None, subcommand: str | Sequence[str] | None
) -> tuple[list[str], Mapping[str, Any] | None]:
    """Split "group sub" and return (path, option-definition-holder)."""
    if subcommand is None:
        return [], command
    path = subcommand.split() if isinstance(subcommand, str) else list(subcommand)
    holder: Mapping[str, Any] | None = command
    for part in path:
        if holder is None:
            break
        nxt = next(
            (o for o in holder.get("options") or [] if o.get("name") == part and o.get("type") in (1, 2)),
            None,
        )
        if nxt is None and command is not None:
            raise ValueError(f"command {command.get('name')!r} has no subcommand (group) {part!r}")
        holder = nxt
    return path, holder


def build_options(
    values: Mapping[str, Any],
    definition: Mapping[str, Any] | None,
    resolved: ResolvedCollector,
    converter: Callable[[int, Any, ResolvedCollector], Any],
    *,
    focused: str | None = None,
) -> list[dict[str, Any]]:
    """Convert ``{"name": value}`` to Discord option objects.

    With the registered command definition we know each option's declared type
    (so ``user=123`` becomes a USER option); otherwise the Python type decides.
    """
    defs = {o["name"]: o for o in (definition or {}).get("options") or [] if o.get("type") not in (1, 2)}
    out: list[dict[str, Any]] = []
    for name, value in values.items():
        if definition is not None and name not in defs:
            raise ValueError(
                f"option {name!r} is not declared by command {definition.get('name')!r} (declared: {sorted(defs)})"
            )
        opt_type = int(defs[name]["type"]) if name in defs else python_option_type(value)
        opt: dict[str, Any] = {"name": name, "type": opt_type}
        if name == focused:
            # Autocomplete sends whatever the user has typed so far, as typed.
            opt["value"] = value if isinstance(value, str) else str(value)
            opt["focused"] = True
        else:
            opt["value"] = converter(opt_type, value, resolved)
        out.append(opt)
    if definition is not None:
        missing = [n for n, d in defs.items() if d.get("required") and n not in values]
        if missing and focused is None:
            raise ValueError(f"required option(s) {missing} missing for command {definition.get('name')!r}")
    if focused is not None and focused not in values:
        raise ValueError(f"focused option {focused!r} must be given in options")
    return out


def nest_subcommand(path: list[str], options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for i, part in enumerate(reversed(path)):
        kind = OptionType.SUB_COMMAND if i == 0 else OptionType.SUB_COMMAND_GROUP
        options = [{"name": part, "type": kind, "options": options}]
    return options


def find_component(message: FakeMessage, custom_id: str) -> dict[str, Any] | None:
    for comp in walk_components(message.components):
        if comp.get("custom_id") == custom_id:
            return comp
    return None


def new_interaction_id() -> int:
    return new_id()
