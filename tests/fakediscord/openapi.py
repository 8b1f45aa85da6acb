"""Validate REST traffic against Discord's official OpenAPI 3.1 spec.

We use ``jsonschema`` + ``referencing`` directly instead of openapi-core: the
spec is 1.2 MB and openapi-core rebuilds a lot of machinery per request, while
we only need three checks (path/method exist, query/path parameters, JSON body)
and Discord's schemas are plain JSON Schema 2020-12 with ``#/components`` refs.
The spec is parsed once per process and validators are cached per operation.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import os
import re
import reprlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

log = logging.getLogger(__name__)

SPEC_ENV_VAR = "DISCORD_OPENAPI_PATH"
# tests/fakediscord/openapi.py -> project root is two levels above tests/.
_PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC_PATH = _PROJECT_ROOT.parent / "shared" / "discord" / "openapi.json"
_SPEC_URI = "urn:discord:openapi"
_BOOL_STRINGS = {"true": True, "false": False, "1": True, "0": False}


def default_spec_path() -> Path:
    env = os.environ.get(SPEC_ENV_VAR)
    return Path(env) if env else DEFAULT_SPEC_PATH


@dataclass(frozen=True)
class Operation:
    template: str  # e.g. "/channels/{channel_id}/messages"
    method: str  # lower case, as in the spec
    operation_id: str
    parameters: tuple[dict[str, Any], ...]  # path-level + operation-level, refs resolved
    request_body: dict[str, Any] | None
    responses: dict[str, Any]

    @property
    def pointer(self) -> str:
        return "/paths/" + _escape_pointer(self.template) + "/" + self.method


@dataclass
class RouteMatch:
    operation: Operation | None
    template: str | None
    path_params: dict[str, str] = field(default_factory=dict)
    allowed_methods: tuple[str, ...] = ()


def _escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class SpecValidator:
    """Matches requests to spec operations and validates them."""

    def __init__(self, spec: dict[str, Any], source: str = "<memory>") -> None:
        self.spec = spec
        self.source = source
        # Responses (what the fake sends) are checked against the spec as published.
        self._strict_registry = Registry().with_resource(
            _SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012)
        )
        # Requests: Discord accepts snowflakes as JSON integers too (discord.py sends
        # e.g. message_reference.message_id as an int), so widen SnowflakeType.
        lenient = dict(spec)
        lenient["components"] = dict(spec.get("components", {}))
        schemas = dict(lenient["components"].get("schemas", {}))
        if "SnowflakeType" in schemas:
            schemas["SnowflakeType"] = {
                "anyOf": [schemas["SnowflakeType"], {"type": "integer", "minimum": 0}],
                "format": "snowflake",
            }
        lenient["components"]["schemas"] = schemas
        self._registry = Registry().with_resource(
            _SPEC_URI, Resource.from_contents(lenient, default_specification=DRAFT202012)
        )
        self._validators: dict[str, Draft202012Validator] = {}
        # (compiled regex, template, number of literal segments)
        self._routes: list[tuple[re.Pattern[str], str, int]] = []
        for template in spec.get("paths", {}):
            regex = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
            literal = sum(1 for seg in template.split("/") if seg and not seg.startswith("{"))
            self._routes.append((re.compile(regex), template, literal))
        # Prefer the most literal template: "/users/@me" must win over "/users/{user_id}".
        self._routes.sort(key=lambda r: -r[2])

    # -- loading -------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> SpecValidator:
        with open(path, "rb") as fh:
            spec = json.load(fh)
        if not str(spec.get("openapi", "")).startswith("3.1"):
            log.warning("Discord spec at %s is OpenAPI %s, expected 3.1", path, spec.get("openapi"))
        return cls(spec, source=str(path))

    # -- helpers -------------------------------------------------------

    def resolve(self, node: Any) -> Any:
        """Follow a local ``$ref`` (only used for parameters / responses)."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 20:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"unsupported $ref {ref}")
            target: Any = self.spec
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
            seen += 1
        return node

    def _validator_for_pointer(self, pointer: str, *, strict: bool = False) -> Draft202012Validator:
        key = ("strict:" if strict else "") + pointer
        validator = self._validators.get(key)
        if validator is None:
            # A tiny root schema that refs into the spec document, so the spec's own
            # "#/components/..." refs resolve against the spec resource.
            schema = {"$ref": _SPEC_URI + "#" + pointer}
            registry = self._strict_registry if strict else self._registry
            validator = Draft202012Validator(schema, registry=registry)
            self._validators[key] = validator
        return validator

    def _schema_for_inline(self, schema: dict[str, Any], key: str, *, strict: bool = False) -> Draft202012Validator:
        if "$ref" in schema and schema["$ref"].startswith("#/"):
            return self._validator_for_pointer(schema["$ref"][1:], strict=strict)
        return self._validator_for_pointer(key, strict=strict)

    # -- matching ------------------------------------------------------

    def match(self, method: str, path: str) -> RouteMatch:
        method = method.lower()
        fallback = RouteMatch(None, None)
        for regex, template, _ in self._routes:
            m = regex.match(path)
            if not m:
                continue
            item = self.spec["paths"][template]
            methods = tuple(k for k in item if k in {"get", "put", "post", "patch", "delete", "head", "options"})
            op = item.get(method)
            if op is None:
                # Keep looking: a less literal template might define this method.
                if fallback.template is None:
                    fallback = RouteMatch(None, template, m.groupdict(), methods)
                continue
            params: dict[tuple[str, str], dict[str, Any]] = {}
            for p in list(item.get("parameters", [])) + list(op.get("parameters", [])):
                p = self.resolve(p)
                params[(p["name"], p["in"])] = p  # operation level overrides path level
            return RouteMatch(
                Operation(
                    template=template,
                    method=method,
                    operation_id=op.get("operationId", f"{method} {template}"),
                    parameters=tuple(params.values()),
                    request_body=self.resolve(op["requestBody"]) if "requestBody" in op else None,
                    responses=op.get("responses", {}),
                ),
                template,
                m.groupdict(),
                methods,
            )
        return fallback

    # -- request validation ---------------------------------------------

    def validate_request(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: Any = None,
        *,
        has_body: bool = False,
        content_type: str | None = None,
    ) -> list[str]:
        """Return human readable problems with this request (empty if valid)."""
        m = self.match(method, path)
        if m.operation is None:
            if m.template is None:
                return [f"path {path} is not in the Discord OpenAPI spec"]
            return [
                f"method {method.upper()} is not defined for {m.template} "
                f"(spec allows: {', '.join(x.upper() for x in m.allowed_methods)})"
            ]
        op = m.operation
        problems: list[str] = []
        pointer = op.pointer

        for param in op.parameters:
            name, where = param["name"], param["in"]
            schema = param.get("schema", {})
            if where == "path":
                raw = m.path_params.get(name)
                if raw is None:
                    continue
                problems += self._check_value(f"path parameter {name}", raw, schema, pointer, name)
            elif where == "query":
                if name not in query:
                    if param.get("required"):
                        problems.append(f"missing required query parameter {name!r}")
                    continue
                problems += self._check_value(f"query parameter {name}", query[name], schema, pointer, name)
        known_query = {p["name"] for p in op.parameters if p["in"] == "query"}
        for name in query:
            if name not in known_query:
                problems.append(
                    f"unknown query parameter {name!r} (spec allows: {', '.join(sorted(known_query)) or 'none'})"
                )

        rb = op.request_body
        if rb is None:
            if body not in (None, "", b"") and has_body:
                problems.append("request has a body but the operation defines no requestBody")
        elif not has_body:
            if rb.get("required"):
                problems.append("missing required JSON request body")
        else:
            content = rb.get("content", {})
            if "application/json" not in content:
                problems.append(f"operation does not accept JSON bodies (accepts {sorted(content)})")
            else:
                schema = content["application/json"].get("schema", {})
                key = pointer + "/requestBody/content/application~1json/schema"
                validator = self._schema_for_inline(schema, key)
                body = _apply_known_discrepancies(op.operation_id, body)
                problems += [f"body: {msg}" for msg in _errors(validator, body)]
        return problems

    def _check_value(self, what: str, raw: str, schema: dict[str, Any], pointer: str, name: str) -> list[str]:
        resolved = self.resolve(schema)
        value: Any = raw
        typ = resolved.get("type")
        types = typ if isinstance(typ, list) else [typ]
        try:
            if "boolean" in types:
                # discord.py sends 0/1 (e.g. ?wait=1&with_response=1); Discord accepts them.
                if raw.lower() not in _BOOL_STRINGS:
                    return [f"{what}={raw!r} is not a boolean"]
                value = _BOOL_STRINGS[raw.lower()]
            elif "integer" in types:
                value = int(raw)
            elif "number" in types:
                value = float(raw)
        except ValueError:
            return [f"{what}={raw!r} is not a valid {typ}"]
        key = f"param:{pointer}:{name}"
        validator = self._validators.get(key)
        if validator is None:
            if "$ref" in schema and schema["$ref"].startswith("#/"):
                # Path/query values are always strings on the wire: validate strictly.
                validator = self._validator_for_pointer(schema["$ref"][1:], strict=True)
            else:
                validator = Draft202012Validator(schema, registry=self._strict_registry)
            self._validators[key] = validator
        return [f"{what}={raw!r}: {msg}" for msg in _errors(validator, value)]

    # -- response validation (keeps the fake itself honest) ---------------

    def validate_response(self, method: str, path: str, status: int, body: Any) -> list[str]:
        m = self.match(method, path)
        if m.operation is None:
            return []
        responses = m.operation.responses
        key = str(status)
        if key not in responses:
            key = f"{str(status)[0]}XX"
            if key not in responses:
                return [] if status >= 400 else [f"status {status} is not documented (has {sorted(responses)})"]
        resp = self.resolve(responses[key])
        content = resp.get("content")
        if not content or "application/json" not in content:
            if body is not None and status != 204:
                return [f"status {status} documents no JSON body but one was sent"]
            return []
        schema = content["application/json"].get("schema", {})
        pkey = m.operation.pointer + f"/responses/{key}/content/application~1json/schema"
        validator = self._schema_for_inline(schema, pkey, strict=True)
        return [f"response {status}: {msg}" for msg in _errors(validator, body)]


def _apply_known_discrepancies(operation_id: str, body: Any) -> Any:
    """Paper over places where the spec is stricter than Discord itself.

    Each entry is a documented case where Discord accepts what discord.py sends
    but the published schema says otherwise; we normalise instead of reporting.
    """
    if operation_id in _COMMAND_OPS and body is not None:
        body = copy.deepcopy(body)
        items = body if isinstance(body, list) else [body]
        for cmd in items:
            # Discord documents permissions as "string" everywhere but this schema says
            # integer; discord.py (correctly) sends the stringified bitfield.
            if isinstance(cmd, dict) and isinstance(cmd.get("default_member_permissions"), str):
                with contextlib.suppress(ValueError):
                    cmd["default_member_permissions"] = int(cmd["default_member_permissions"])
    return body


_COMMAND_OPS = {
    "bulk_set_application_commands",
    "bulk_set_guild_application_commands",
    "create_application_command",
    "create_guild_application_command",
    "update_application_command",
    "update_guild_application_command",
}


def _errors(validator: Draft202012Validator, instance: Any, limit: int = 5) -> list[str]:
    out: list[str] = []
    for err in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        out.append(_describe(err))
        if len(out) >= limit:
            break
    return out


def _describe(err: ValidationError) -> str:
    err = _most_relevant(err)
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path) or "<root>"
    inst = err.instance
    if err.validator in ("maxLength", "minLength") and isinstance(inst, str):
        msg = f"string of length {len(inst)} violates {err.validator}={err.validator_value}"
    elif err.validator in ("maxItems", "minItems") and isinstance(inst, list):
        msg = f"array of {len(inst)} items violates {err.validator}={err.validator_value}"
    else:
        msg = err.message.replace(repr(inst), _short.repr(inst))
    return f"{where}: {msg}"


_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60


def _most_relevant(err: ValidationError) -> ValidationError:
    """Dig into anyOf/oneOf errors to find the branch the payload was aiming for.

    Discord unions are discriminated by a ``type`` const/enum (or by null vs
    object); a branch that fails on the discriminator or on the instance's type
    is not the one the caller meant, so report the deepest error of the others.
    """
    while err.context:
        by_branch: dict[Any, list[ValidationError]] = {}
        for sub in err.context:
            by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)

        def disqualified(errs: list[ValidationError]) -> bool:
            for e in errs:
                rel = list(e.relative_path)
                if rel[:1] == ["type"] and len(rel) == 1:
                    return True
                if not rel and e.validator in ("type", "const", "enum"):
                    return True
            return False

        branches = [b for b in by_branch.values() if not disqualified(b)] or list(by_branch.values())
        best = max(
            (e for b in branches for e in b),
            key=lambda e: (len(list(e.relative_path)), e.validator not in ("anyOf", "oneOf")),
        )
        if best is err:
            break
        err = best
    return err


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float) -> SpecValidator:
    return SpecValidator.from_file(path)


def load_spec_validator(path: str | os.PathLike[str] | None = None) -> SpecValidator | None:
    """Load (once per process) the validator, or return None if the spec is missing."""
    p = Path(path) if path is not None else default_spec_path()
    if not p.is_file():
        log.warning(
            "Discord OpenAPI spec not found at %s (set %s to override); "
            "REST requests to the fake Discord will NOT be validated against the spec.",
            p,
            SPEC_ENV_VAR,
        )
        return None
    return _load_cached(str(p.resolve()), p.stat().st_mtime)


def iter_operations(validator: SpecValidator) -> Iterable[tuple[str, str]]:
    for template, item in validator.spec.get("paths", {}).items():
        for method in item:
            if method in {"get", "put", "post", "patch", "delete"}:
                yield method.upper(), template
