"""Starting the Discord bot from the command line: one clear line for the common failures, never a traceback."""
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys

import discord

from index import ArticleIndexError

from .client import ArticleBot
from .settings import Settings

logger = logging.getLogger(__name__)


class RedactSecrets(logging.Filter):
    """Replaces the token wherever it would appear in a log record."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "[redacted]")
            record.msg, record.args = message, None
        return True


def install_redaction(token: str) -> None:
    redactor = RedactSecrets(token)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)


def settle_heap() -> None:
    """Exempt everything made at start-up (the model, its libraries, the index) from garbage collection.

    A full collection walks every tracked object: with torch and transformers loaded that is about half a
    million, and each one paused the event loop for 200-250 ms under load (bench/load.py); frozen, about 30 ms.
    Frozen objects are still freed when their last reference goes; only cycles among them would be kept."""
    gc.collect()
    gc.freeze()


async def _serve(settings: Settings, token: str) -> None:
    # SIGTERM (a service manager's or container's stop) ends the bot as Ctrl-C does: leaving ``async with``
    # closes it, which lets answers under way finish and writes what the question log holds.
    serving = asyncio.current_task()
    assert serving is not None
    stopped = asyncio.Event()

    def stop() -> None:
        stopped.set()
        serving.cancel()

    with contextlib.suppress(NotImplementedError):  # (no signal handlers on Windows' event loop)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop)
    try:
        async with ArticleBot(settings) as bot:
            await bot.login(token)  # runs setup_hook: the index is opened and the model loaded
            settle_heap()
            await bot.connect(reconnect=True)  # what bot.start(token) does after logging in
    except asyncio.CancelledError:
        if not stopped.is_set():
            raise
        logger.info("Stopped (SIGTERM)")


def run_bot(settings: Settings) -> int:
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        print("error: DISCORD_TOKEN is not set: put the bot's token in the environment or in .env.", file=sys.stderr)
        return 2
    token = settings.discord_token.get_secret_value().strip()
    install_redaction(token)
    try:
        asyncio.run(_serve(settings, token))
    except ArticleIndexError as error:  # the index could not be opened, nor built and saved
        print(f"error: {error}", file=sys.stderr)
        return 1
    except discord.LoginFailure:
        print("error: Discord rejected DISCORD_TOKEN; copy the bot token again from the developer portal.", file=sys.stderr)
        return 1
    except discord.PrivilegedIntentsRequired:
        print("error: Discord refused the bot's intents; enable them in the developer portal.", file=sys.stderr)
        return 1
    except (OSError, discord.GatewayNotFound, discord.HTTPException) as error:
        message = str(error).replace(token, "[redacted]")
        print(f"error: cannot reach Discord at {settings.discord_api_base_url}: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
