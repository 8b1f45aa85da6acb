"""REST API of the fake: one catch-all aiohttp handler + a small route table.

Every request is recorded, validated against the OpenAPI spec, checked for
injected faults and auth, then dispatched. Responses use exactly
``Content-Type: application/json`` because discord.py only decodes JSON when
the header matches that string (no charset suffix).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .interactions import ALLOWED_CALLBACKS, CallbackType, InteractionCallback, InteractionHandle
from .models import FakeMessage, Perm, UploadedFile, message_payload, new_id
from .records import RecordedRequest

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
JSON = "application/json"


class DiscordError(Exception):
    """Raised by handlers to answer with a Discord-shaped error body."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "code": code}
        if errors:
            self.body["errors"] = errors


class RuleViolation(DiscordError):
    """A request Discord would reject for a reason the schema can't express."""


@dataclass
class Req:
    record: RecordedRequest
    params: dict[str, str]
    json: Any
    files: list[UploadedFile]

    @property
    def query(self) -> dict[str, str]:
        return self.record.query

    def flag(self, name: str, default: bool = False) -> bool:
        raw = self.query.get(name)
        return default if raw is None else raw.lower() in ("1", "true")


@dataclass
class Resp:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Req], Awaitable[Resp]]


class RestApi:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        # (method, regex, handler, requires bot auth)
        self.routes: list[tuple[str, re.Pattern[str], Handler, bool]] = []
        r = self._route
        r("GET", "/users/@me", self.get_me)
        r("GET", "/users/@me/guilds", self.get_my_guilds)
        r("POST", "/users/@me/channels", self.open_dm)
        r("GET", "/users/{user_id}", self.get_user)
        r("GET", "/oauth2/applications/@me", self.get_application)
        r("GET", "/applications/@me", self.get_application)
        r("GET", "/gateway", self.get_gateway, auth=False)
        r("GET", "/gateway/bot", self.get_gateway_bot)
        for prefix in ("/applications/{app_id}", "/applications/{app_id}/guilds/{guild_id}"):
            r("GET", prefix + "/commands", self.list_commands)
            r("PUT", prefix + "/commands", self.bulk_commands)
            r("POST", prefix + "/commands", self.create_command)
            r("GET", prefix + "/commands/{command_id}", self.get_command)
            r("PATCH", prefix + "/commands/{command_id}", self.edit_command)
            r("DELETE", prefix + "/commands/{command_id}", self.delete_command)
        r("POST", "/interactions/{interaction_id}/{token}/callback", self.interaction_callback, auth=False)
        r("POST", "/webhooks/{app_id}/{token}", self.webhook_execute, auth=False)
        r("GET", "/webhooks/{app_id}/{token}/messages/{message_id}", self.webhook_get, auth=False)
        r("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}", self.webhook_edit, auth=False)
        r("DELETE", "/webhooks/{app_id}/{token}/messages/{message_id}", self.webhook_delete, auth=False)
        r("GET", "/channels/{channel_id}", self.get_channel)
        r("GET", "/channels/{channel_id}/messages", self.list_messages)
        r("POST", "/channels/{channel_id}/messages", self.create_message)
        r("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message)
        r("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message)
        r("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message)
        r("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self.add_reaction)
        r("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self.remove_reaction)
        r("POST", "/channels/{channel_id}/typing", self.typing)
        r("GET", "/guilds/{guild_id}", self.get_guild)
        r("GET", "/guilds/{guild_id}/channels", self.get_guild_channels)
        r("GET", "/guilds/{guild_id}/roles", self.get_guild_roles)
        r("GET", "/guilds/{guild_id}/members", self.list_members)
        r("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member)

    def _route(self, method: str, template: str, handler: Handler, *, auth: bool = True) -> None:
        regex = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
        self.routes.append((method, re.compile(regex), handler, auth))

    # -- entry point --------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        fake = self.fake
        path = request.path
        if path.startswith(API_PREFIX):
            path = path[len(API_PREFIX) :] or "/"
        record = RecordedRequest(
            method=request.method,
            path=path,
            query=dict(request.query),
            headers=dict(request.headers),
            content_type=request.content_type if request.body_exists else None,
        )
        fake.requests.append(record)
        try:
            body, files, has_body = await self._read_body(request)
        except ValueError as exc:
            return self._finish(record, Resp(400, {"message": f"400: Bad Request ({exc})", "code": 50109}))
        record.json = body
        record.files = files

        # 1. spec validation (always, even if a fault answers the request)
        if fake.validator is not None:
            match = fake.validator.match(record.method, path)
            record.route = match.template
            problems = fake.validator.validate_request(
                record.method, path, record.query, body, has_body=has_body, content_type=record.content_type
            )
            if problems:
                record.violations.extend(problems)
                for p in problems:
                    fake.spec_violations.append(f"{record.method} {path}: {p}")

        # 2. injected faults
        for rule in fake.fault_rules:
            if rule.matches(record.method, path):
                rule.count -= 1
                rule.hits += 1
                record.fault = f"{rule.status}"
                return self._finish(record, self._fault_response(rule))

        # 3. routing + auth
        for method, regex, handler, auth in self.routes:
            m = regex.match(path)
            if not m or method != record.method:
                continue
            if auth:
                header = request.headers.get("Authorization")
                if header != f"Bot {fake.token}":
                    return self._finish(record, Resp(401, {"message": "401: Unauthorized", "code": 0}))
            if record.violations and fake.reject_invalid_requests:
                return self._finish(record, self._invalid_form_body(record.violations))
            req = Req(record, m.groupdict(), body, files)
            try:
                resp = await handler(req)
            except RuleViolation as exc:
                fake.spec_violations.append(f"{record.method} {path}: Discord rule: {exc}")
                record.violations.append(f"Discord rule: {exc}")
                resp = Resp(exc.status, exc.body)
            except DiscordError as exc:
                resp = Resp(exc.status, exc.body)
            return self._finish(record, resp)

        fake.unknown_routes.append(record)
        log.warning("fake discord: unknown route %s %s", record.method, path)
        return self._finish(record, Resp(404, {"message": "404: Not Found", "code": 0}))

    async def _read_body(self, request: web.Request) -> tuple[Any, list[UploadedFile], bool]:
        if not request.body_exists:
            return None, [], False
        if request.content_type == "multipart/form-data":
            payload: Any = None
            files: list[UploadedFile] = []
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                data = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":  # type: ignore[union-attr]
                    payload = json.loads(data.decode())
                else:
                    files.append(
                        UploadedFile(
                            field_name=part.name or "",  # type: ignore[union-attr]
                            filename=part.filename,  # type: ignore[union-attr]
                            content_type=part.headers.get("Content-Type"),  # type: ignore[union-attr]
                            data=bytes(data),
                        )
                    )
            return payload, files, payload is not None
        raw = await request.read()
        if not raw:
            return None, [], False
        if request.content_type == JSON:
            try:
                return json.loads(raw), [], True
            except ValueError as exc:
                raise ValueError(f"invalid JSON: {exc}") from exc
        return raw.decode(errors="replace"), [], True

    def _finish(self, record: RecordedRequest, resp: Resp) -> web.Response:
        record.status = resp.status
        record.response = resp.body
        fake = self.fake
        if fake.validator is not None and resp.status < 300:
            for p in fake.validator.validate_response(record.method, record.path, resp.status, resp.body):
                fake.response_violations.append(f"{record.method} {record.path}: {p}")
        fake.notify()
        if resp.status == 204 or resp.body is None:
            return web.Response(status=resp.status, headers=resp.headers)
        headers = {"Content-Type": JSON, **resp.headers}
        return web.Response(status=resp.status, body=json.dumps(resp.body).encode(), headers=headers)

    def _fault_response(self, rule: Any) -> Resp:
        if rule.status == 429:
            body = rule.body or {
                "message": "You are being rate limited.",
                "retry_after": rule.retry_after,
                "global": rule.is_global,
                "code": 0,
            }
            headers = {
                # discord.py treats a 429 without "Via" as a Cloudflare ban and gives up.
                "Via": "1.1 google",
                "Retry-After": str(max(1, round(rule.retry_after))),
                "X-RateLimit-Scope": "global" if rule.is_global else "user",
            }
            if rule.is_global:
                headers["X-RateLimit-Global"] = "true"
            return Resp(429, body, headers)
        default = {"message": f"{rule.status}: fake failure", "code": 0}
        return Resp(rule.status, rule.body if rule.body is not None else default)

    @staticmethod
    def _invalid_form_body(problems: list[str]) -> Resp:
        errors = {"_errors": [{"code": "FAKE_SPEC_VIOLATION", "message": p} for p in problems]}
        return Resp(400, {"message": "Invalid Form Body", "code": 50035, "errors": errors})

    # -- users / app / gateway ------------------------------------------------

    async def get_me(self, req: Req) -> Resp:
        return Resp(200, self.fake.bot_user.to_private_payload())

    async def get_user(self, req: Req) -> Resp:
        user = self.fake.users.get(_int(req.params["user_id"]))
        if user is None:
            raise DiscordError(404, 10013, "Unknown User")
        return Resp(200, user.to_payload())

    async def get_my_guilds(self, req: Req) -> Resp:
        out: list[dict[str, Any]] = []
        for g in self.fake.guilds:
            me = g.get_member(self.fake.bot_user)
            out.append(
                {
                    "id": str(g.id),
                    "name": g.name,
                    "icon": None,
                    "banner": None,
                    "owner": False,
                    "permissions": str(g.base_permissions(me)) if me else "0",
                    "features": [],
                }
            )
        return Resp(200, out)

    async def get_application(self, req: Req) -> Resp:
        return Resp(200, self.fake.application_payload())

    async def get_gateway(self, req: Req) -> Resp:
        return Resp(200, {"url": self.fake.gateway_url})

    async def get_gateway_bot(self, req: Req) -> Resp:
        return Resp(
            200,
            {
                "url": self.fake.gateway_url,
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1},
            },
        )

    async def open_dm(self, req: Req) -> Resp:
        rid = _int((req.json or {}).get("recipient_id"))
        user = self.fake.users.get(rid)
        if user is None:
            raise DiscordError(400, 50033, "Invalid Recipient(s)")
        return Resp(200, self.fake.dm_channel(user).to_payload())

    # -- application commands -------------------------------------------------

    def _commands(self, req: Req) -> list[dict[str, Any]]:
        if _int(req.params["app_id"]) != self.fake.application_id:
            raise DiscordError(403, 50001, "Missing Access")
        gid = req.params.get("guild_id")
        if gid is None:
            return self.fake.global_commands
        guild_id = _int(gid)
        self.fake.get_guild_or_error(guild_id)
        return self.fake.guild_commands.setdefault(guild_id, [])

    async def list_commands(self, req: Req) -> Resp:
        return Resp(200, [dict(c) for c in self._commands(req)])

    async def bulk_commands(self, req: Req) -> Resp:
        store = self._commands(req)
        guild_id = _int(req.params["guild_id"]) if "guild_id" in req.params else None
        old = {(c["name"], c["type"]): c for c in store}
        new = [self._command_from_body(b, guild_id, old) for b in (req.json or [])]
        names = [(c["name"], c["type"]) for c in new]
        if len(names) != len(set(names)):
            raise RuleViolation(400, 50035, "Application command names must be unique")
        store[:] = new
        self.fake.command_syncs += 1
        return Resp(200, [dict(c) for c in new])

    async def create_command(self, req: Req) -> Resp:
        store = self._commands(req)
        guild_id = _int(req.params["guild_id"]) if "guild_id" in req.params else None
        old = {(c["name"], c["type"]): c for c in store}
        cmd = self._command_from_body(req.json or {}, guild_id, old)
        key = (cmd["name"], cmd["type"])
        store[:] = [c for c in store if (c["name"], c["type"]) != key] + [cmd]
        return Resp(200 if key in old else 201, dict(cmd))

    async def get_command(self, req: Req) -> Resp:
        return Resp(200, dict(self._find_command(req)))

    async def edit_command(self, req: Req) -> Resp:
        cmd = self._find_command(req)
        body = dict(req.json or {})
        merged = {**cmd, **{k: v for k, v in body.items() if k != "id"}}
        store = self._commands(req)
        guild_id = _int(req.params["guild_id"]) if "guild_id" in req.params else None
        new = self._command_from_body(merged, guild_id, {(cmd["name"], cmd["type"]): cmd})
        store[:] = [new if c is cmd else c for c in store]
        return Resp(200, dict(new))

    async def delete_command(self, req: Req) -> Resp:
        cmd = self._find_command(req)
        store = self._commands(req)
        store[:] = [c for c in store if c is not cmd]
        return Resp(204)

    def _find_command(self, req: Req) -> dict[str, Any]:
        cid = req.params["command_id"]
        for c in self._commands(req):
            if c["id"] == cid:
                return c
        raise DiscordError(404, 10063, "Unknown application command")

    def _command_from_body(
        self, body: dict[str, Any], guild_id: int | None, old: dict[tuple[str, int], dict[str, Any]]
    ) -> dict[str, Any]:
        ctype = int(body.get("type") or 1)
        name = body.get("name")
        if not isinstance(name, str):
            raise RuleViolation(400, 50035, "command name is required")
        # Slash command names: 1-32 chars, lower case, letters/digits/-/_ (context menus are free-form).
        if ctype == 1 and (not re.fullmatch(r"[-_'\w]{1,32}", name) or name != name.lower()):
            raise RuleViolation(400, 50035, f"Command name {name!r} is invalid for a slash command")
        prev = old.get((name, ctype))
        perms = body.get("default_member_permissions")
        cmd: dict[str, Any] = {
            "id": prev["id"] if prev else str(new_id()),
            "application_id": str(self.fake.application_id),
            "version": str(new_id()),
            "default_member_permissions": None if perms is None else str(perms),
            "type": ctype,
            "name": name,
            "description": body.get("description") or "",
            "dm_permission": body.get("dm_permission", True) if guild_id is None else None,
            "contexts": body.get("contexts"),
            "integration_types": body.get("integration_types") or [0],
            "nsfw": bool(body.get("nsfw", False)),
        }
        for key in ("name_localizations", "description_localizations"):
            if body.get(key):
                cmd[key] = body[key]
        if cmd["dm_permission"] is None:
            del cmd["dm_permission"]
        if body.get("options"):
            cmd["options"] = body["options"]
        if guild_id is not None:
            cmd["guild_id"] = str(guild_id)
        return cmd

    # -- interactions -----------------------------------------------------------

    async def interaction_callback(self, req: Req) -> Resp:
        fake = self.fake
        now = time.perf_counter()
        h = fake.interactions.get(_int(req.params["interaction_id"]))
        if h is None or h.token != req.params["token"]:
            raise DiscordError(404, 10062, "Unknown interaction")
        if h.callback is None and h.failed is not None:
            h.rejected.append(req.record)
            raise DiscordError(404, 10062, "Unknown interaction")
        if h.callback is not None:
            h.rejected.append(req.record)
            raise RuleViolation(400, 40060, "Interaction has already been acknowledged.")
        body = req.json if isinstance(req.json, dict) else {}
        ctype = body.get("type")
        if ctype not in ALLOWED_CALLBACKS.get(h.type, set()):
            h.rejected.append(req.record)
            raise RuleViolation(400, 50035, f"callback type {ctype} is not valid for interaction type {h.type}")
        data = body.get("data") or {}
        resource: dict[str, Any] | None = None
        if ctype == CallbackType.CHANNEL_MESSAGE:
            msg = await fake._create_interaction_message(h, data, req.files, loading=False)
            h.original_message_id = msg.id
            h._set_final(msg.id, now)
            resource = {"type": ctype, "message": message_payload(msg)}
        elif ctype == CallbackType.DEFERRED_CHANNEL_MESSAGE:
            msg = await fake._create_interaction_message(h, data, [], loading=True)
            h.original_message_id = msg.id
        elif ctype in (CallbackType.DEFERRED_UPDATE_MESSAGE, CallbackType.UPDATE_MESSAGE):
            target = fake.messages.get(h.component_message_id or 0)
            if target is None:
                raise RuleViolation(400, 50035, "update callbacks need a component interaction on a message")
            h.original_message_id = target.id
            if ctype == CallbackType.UPDATE_MESSAGE:
                fake._apply_message_edit(target, data, req.files)
                h._set_final(target.id, now)
                resource = {"type": ctype, "message": message_payload(target)}
                await fake._echo_message("MESSAGE_UPDATE", target)
        elif ctype in (CallbackType.AUTOCOMPLETE_RESULT, CallbackType.MODAL, CallbackType.LAUNCH_ACTIVITY):
            h.final_at = now
            if ctype == CallbackType.MODAL:
                h.modal = data
        h.callback = InteractionCallback(type=ctype, data=data, body=body, at=now, request=req.record)
        if h._expiry is not None:
            h._expiry.cancel()
        fake.notify()
        if not req.flag("with_response"):
            return Resp(204)
        interaction: dict[str, Any] = {"id": str(h.id), "type": h.type}
        if h.original_message_id is not None:
            original = fake.messages[h.original_message_id]
            interaction.update(
                {
                    "response_message_id": str(original.id),
                    "response_message_loading": original.loading,
                    "response_message_ephemeral": original.ephemeral,
                }
            )
        out: dict[str, Any] = {"interaction": interaction}
        if resource is not None:
            out["resource"] = resource
        return Resp(200, out)

    def _webhook_handle(self, req: Req) -> InteractionHandle:
        fake = self.fake
        h = fake.interactions_by_token.get(req.params["token"])
        if h is None or _int(req.params["app_id"]) != fake.application_id:
            raise DiscordError(404, 10015, "Unknown Webhook")
        if h.callback is None:
            # Discord only creates the interaction webhook once the interaction is acknowledged.
            raise DiscordError(404, 10015, "Unknown Webhook")
        return h

    def _webhook_message(self, req: Req, h: InteractionHandle) -> FakeMessage:
        mid = req.params["message_id"]
        if mid == "@original":
            target = h.original_message_id
        else:
            target = _int(mid)
            if target not in (h.original_message_id, *h.followup_ids):
                raise DiscordError(404, 10008, "Unknown Message")
        msg = self.fake.messages.get(target or 0)
        if msg is None or msg.deleted:
            raise DiscordError(404, 10008, "Unknown Message")
        return msg

    async def webhook_execute(self, req: Req) -> Resp:
        fake = self.fake
        h = self._webhook_handle(req)
        data = req.json if isinstance(req.json, dict) else {}
        now = time.perf_counter()
        original = fake.messages.get(h.original_message_id or 0)
        if (
            h.callback is not None
            and h.callback.type == CallbackType.DEFERRED_CHANNEL_MESSAGE
            and original is not None
            and original.loading
            and not original.deleted
        ):
            # The first followup after a "thinking" defer replaces the loading message (unless it was deleted).
            fake._apply_message_edit(original, data, req.files, followup=True)
            h._set_final(original.id, now)
            await fake._echo_message("MESSAGE_UPDATE", original)
            msg = original
        else:
            msg = await fake._create_interaction_message(h, data, req.files, loading=False, followup=True)
            h.followup_ids.append(msg.id)
            if h.final_at is None:
                h._set_final(msg.id, now)
        fake.notify()
        if not req.flag("wait"):
            return Resp(204)
        return Resp(200, message_payload(msg))

    async def webhook_get(self, req: Req) -> Resp:
        h = self._webhook_handle(req)
        return Resp(200, message_payload(self._webhook_message(req, h)))

    async def webhook_edit(self, req: Req) -> Resp:
        fake = self.fake
        h = self._webhook_handle(req)
        msg = self._webhook_message(req, h)
        fake._apply_message_edit(msg, req.json if isinstance(req.json, dict) else {}, req.files)
        if h.final_at is None and msg.id == h.original_message_id:
            h._set_final(msg.id, time.perf_counter())
        await fake._echo_message("MESSAGE_UPDATE", msg)
        fake.notify()
        return Resp(200, message_payload(msg))

    async def webhook_delete(self, req: Req) -> Resp:
        h = self._webhook_handle(req)
        msg = self._webhook_message(req, h)
        await self.fake._delete_message(msg)
        return Resp(204)

    # -- channels & messages ----------------------------------------------------

    async def get_channel(self, req: Req) -> Resp:
        return Resp(200, self.fake.get_channel_or_error(_int(req.params["channel_id"])).to_payload())

    async def list_messages(self, req: Req) -> Resp:
        ch = self.fake.get_channel_or_error(_int(req.params["channel_id"]))
        self.fake._require_perms(ch, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        msgs = [m for m in self.fake.messages.values() if m.channel_id == ch.id and not m.deleted and not m.ephemeral]
        q = req.query
        if "before" in q:
            msgs = [m for m in msgs if m.id < _int(q["before"])]
        if "after" in q:
            msgs = [m for m in msgs if m.id > _int(q["after"])]
        msgs.sort(key=lambda m: m.id, reverse=True)
        limit = int(q.get("limit", 50))
        return Resp(200, [message_payload(m) for m in msgs[:limit]])

    async def create_message(self, req: Req) -> Resp:
        msg = await self.fake._create_channel_message(
            _int(req.params["channel_id"]), req.json if isinstance(req.json, dict) else {}, req.files
        )
        return Resp(200, message_payload(msg))

    def _channel_message(self, req: Req) -> FakeMessage:
        ch = self.fake.get_channel_or_error(_int(req.params["channel_id"]))
        msg = self.fake.messages.get(_int(req.params["message_id"]))
        if msg is None or msg.channel_id != ch.id or msg.deleted or msg.ephemeral:
            raise DiscordError(404, 10008, "Unknown Message")
        return msg

    async def get_message(self, req: Req) -> Resp:
        msg = self._channel_message(req)
        self.fake._require_perms(self.fake.get_channel_or_error(msg.channel_id), Perm.READ_MESSAGE_HISTORY)
        return Resp(200, message_payload(msg))

    async def edit_message(self, req: Req) -> Resp:
        msg = self._channel_message(req)
        if msg.author.id != self.fake.bot_user.id:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        self.fake._apply_message_edit(msg, req.json if isinstance(req.json, dict) else {}, req.files)
        await self.fake._echo_message("MESSAGE_UPDATE", msg)
        self.fake.notify()
        return Resp(200, message_payload(msg))

    async def delete_message(self, req: Req) -> Resp:
        msg = self._channel_message(req)
        if msg.author.id != self.fake.bot_user.id:
            self.fake._require_perms(self.fake.get_channel_or_error(msg.channel_id), Perm.MANAGE_MESSAGES)
        await self.fake._delete_message(msg)
        return Resp(204)

    async def add_reaction(self, req: Req) -> Resp:
        msg = self._channel_message(req)
        self.fake._require_perms(
            self.fake.get_channel_or_error(msg.channel_id), Perm.ADD_REACTIONS | Perm.READ_MESSAGE_HISTORY
        )
        emoji = req.params["emoji"]
        if emoji not in msg.reactions:
            msg.reactions.append(emoji)
        self.fake.notify()
        return Resp(204)

    async def remove_reaction(self, req: Req) -> Resp:
        msg = self._channel_message(req)
        emoji = req.params["emoji"]
        if emoji in msg.reactions:
            msg.reactions.remove(emoji)
        return Resp(204)

    async def typing(self, req: Req) -> Resp:
        ch = self.fake.get_channel_or_error(_int(req.params["channel_id"]))
        self.fake._require_perms(ch, Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
        self.fake.typing.append((ch.id, time.perf_counter()))
        return Resp(204)

    # -- guilds ---------------------------------------------------------------

    async def get_guild(self, req: Req) -> Resp:
        return Resp(200, self.fake.get_guild_or_error(_int(req.params["guild_id"])).to_payload())

    async def get_guild_channels(self, req: Req) -> Resp:
        g = self.fake.get_guild_or_error(_int(req.params["guild_id"]))
        return Resp(200, [c.to_payload() for c in g.channels])

    async def get_guild_roles(self, req: Req) -> Resp:
        g = self.fake.get_guild_or_error(_int(req.params["guild_id"]))
        return Resp(200, [r.to_payload() for r in g.roles])

    async def list_members(self, req: Req) -> Resp:
        g = self.fake.get_guild_or_error(_int(req.params["guild_id"]))
        limit = int(req.query.get("limit", 1))
        after = _int(req.query.get("after", "0"))
        members = sorted((m for m in g.members if m.user.id > after), key=lambda m: m.user.id)
        return Resp(200, [m.to_payload() for m in members[:limit]])

    async def get_member(self, req: Req) -> Resp:
        g = self.fake.get_guild_or_error(_int(req.params["guild_id"]))
        member = g.get_member(_int(req.params["user_id"]))
        if member is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return Resp(200, member.to_payload())


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        # Spec validation already reported the malformed id; answer like Discord.
        raise DiscordError(404, 10003, f"Unknown snowflake {value!r}") from None
