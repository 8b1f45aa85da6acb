"""Helpers for the bot's end-to-end tests: a running bot against the fake Discord, and what it sent."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.client import ArticleBot
from bot.settings import Settings
from fakediscord import FakeDiscord

TRUCE = "Who claimed that a truce deal was close?"
# Routes through which the bot makes something visible to members.
_SENDING = ("/callback", "/messages", "/webhooks/")


@dataclass
class RunningBot:
    bot: ArticleBot
    fake: FakeDiscord
    settings: Settings
    articles: Path

    async def ask(self, question: str, **options: Any):
        """Send /ask and return the message the member finally sees."""
        handle = await self.fake.send_slash_command("ask", {"question": question, **options})
        return await handle.wait_final(timeout=30)

    def sent_payloads(self) -> list[dict]:
        """Every JSON body the bot sent to create or edit a visible message (interaction data unwrapped)."""
        payloads = []
        for request in self.fake.requests:
            if request.method in ("POST", "PATCH") and any(part in request.path for part in _SENDING) and isinstance(request.json, dict):
                body = request.json.get("data", request.json) if "/callback" in request.path else request.json
                if isinstance(body, dict) and ("embeds" in body or "content" in body):
                    payloads.append(body)
        return payloads


class FastTestBot(ArticleBot):
    """The real bot, minus discord.py's reconnect politeness delay (5 s before each IDENTIFY)."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


def bot_settings(fake: FakeDiscord, articles: Path, index_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        discord_token=fake.token,
        articles_dir=articles,
        index_dir=index_dir,
        data_dir=index_dir.parent / "data",  # tmp_path / "data" beside tmp_path / "index"
        discord_api_base_url=fake.api_base,
        discord_gateway_url=fake.gateway_url,
        cooldown_questions=1000,
        cooldown_seconds=60,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


def embed_text(message) -> str:
    """All the text of a message's embeds, as a member reads it."""
    parts = []
    for embed in message.embeds:
        parts += [embed.get("title", ""), embed.get("description", "")]
        for field in embed.get("fields", []):
            parts += [field["name"], field["value"]]
    return "\n".join(parts)
