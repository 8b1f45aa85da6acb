"""Member ids in the bot's log: never raw, always a short keyed hash.

The hash is the question log's (HMAC-SHA256 with the installation's secret key, ``member-id.salt`` in the data
folder), cut to 12 hex digits: the same member gets the same name in every log line and matches their rows in
the question log, but the id cannot be recovered without the key. If that key cannot be read, a key made for
this run is used instead (stable until the bot restarts)."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from .questionlog import QuestionLog, QuestionLogError

HASH_CHARS = 12
_RUN_KEY = secrets.token_bytes(32)


def hashed_user(user_id: int, question_log: QuestionLog | None = None) -> str:
    """How a member is named in log lines, e.g. ``member:3f9a0c1d22b7``."""
    if question_log is not None:
        try:
            return "member:" + question_log.hash_member(user_id)[:HASH_CHARS]
        except (QuestionLogError, OSError):
            pass
    return "member~" + hmac.new(_RUN_KEY, str(int(user_id)).encode(), hashlib.sha256).hexdigest()[:HASH_CHARS]
