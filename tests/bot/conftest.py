"""Fixtures for the bot's end-to-end tests: the real ArticleBot connected to the fake Discord."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest_asyncio
from botkit import FastTestBot, RunningBot, bot_settings

from fakediscord.pytest_plugin import fake_discord, fake_discord_factory  # noqa: F401  (fixtures)
from index import ArticleIndex


@pytest_asyncio.fixture
async def start_bot(fake_discord, embedder, sample_articles, tmp_path) -> AsyncIterator[Callable[..., Awaitable[RunningBot]]]:
    """``await start_bot(**settings)``: the bot logged in to the fake, its commands synced, ready."""
    started: list[tuple[FastTestBot, asyncio.Task]] = []

    async def start(**overrides) -> RunningBot:
        settings = bot_settings(fake_discord, sample_articles, tmp_path / "index", **overrides)
        bot = FastTestBot(settings, index=ArticleIndex(embedder, min_score=settings.min_score), guild_ready_timeout=0.1)
        syncs, readies = fake_discord.command_syncs, fake_discord.ready_count
        await bot.login(settings.discord_token.get_secret_value())
        task = asyncio.create_task(bot.connect(reconnect=True))
        started.append((bot, task))
        shards = settings.shards_to_run() or [0]
        if 0 in shards:  # only the process that runs shard 0 syncs the commands
            await fake_discord.wait_for_commands(syncs + 1, timeout=30)
        await fake_discord.wait_for_ready(readies + len(shards), timeout=30)
        return RunningBot(bot, fake_discord, settings, sample_articles)

    yield start
    for bot, task in started:
        await bot.close()
        await asyncio.wait_for(task, timeout=10)
