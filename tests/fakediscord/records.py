"""Plain records of what the bot did, kept for assertions and debugging."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from .models import UploadedFile


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the /api/v10 prefix, e.g. "/channels/123/messages"
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None  # parsed JSON body, or the multipart payload_json
    files: list[UploadedFile] = field(default_factory=list)
    content_type: str | None = None
    time: float = field(default_factory=time.perf_counter)
    route: str | None = None  # the spec template it matched, e.g. "/channels/{channel_id}/messages"
    status: int | None = None
    response: Any = None
    violations: list[str] = field(default_factory=list)
    fault: str | None = None  # set if an injected failure answered this request

    def __str__(self) -> str:
        q = "&".join(f"{k}={v}" for k, v in self.query.items())
        return f"{self.method} {self.path}{'?' + q if q else ''} -> {self.status}"


@dataclass
class GatewayFrame:
    direction: str  # "recv" (from the bot) or "send" (to the bot)
    op: int
    t: str | None
    s: int | None
    d: Any
    time: float = field(default_factory=time.perf_counter)


@dataclass
class FaultRule:
    """An injected REST failure (see FakeDiscord.fail_next)."""

    method: str
    path_regex: re.Pattern[str]
    status: int
    retry_after: float
    count: int
    is_global: bool = False
    body: Any = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return self.count > 0 and (self.method in ("*", method)) and bool(self.path_regex.search(path))
