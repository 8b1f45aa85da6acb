"""A fake Discord (REST + gateway websocket) that the real discord.py client talks to.

It listens on 127.0.0.1 (ephemeral port) and exposes ``api_base``
(``http://127.0.0.1:PORT/api/v10``) and ``gateway_url`` (``ws://127.0.0.1:PORT/gateway``).
Every REST request is recorded in ``fake.requests`` and validated against Discord's
OpenAPI spec (``../shared/discord/openapi.json`` from the project root, or
``$DISCORD_OPENAPI_PATH``); problems land in ``fake.spec_violations``.

Usage in a test (fixtures come from ``fakediscord.pytest_plugin``; import them in a
conftest.py, and run the test on the session loop like the async fixtures)::

    pytestmark = pytest.mark.asyncio(loop_scope="session")

    async def test_ask(fake_discord):            # started, discord.py pointed at it
        bot = make_my_bot()                      # e.g. guild_ready_timeout=0.05
        await bot.login(fake_discord.token)
        task = asyncio.create_task(bot.connect())
        try:
            await fake_discord.wait_for_commands()          # the bot synced its tree
            handle = await fake_discord.send_slash_command("ask", {"question": "why?"})
            msg = await handle.wait_final(timeout=10)        # after defer+edit too
            assert msg.ephemeral and "why" in msg.content
            print(handle.response_latency, handle.final_latency)
        finally:
            await bot.close()
            await task
        # teardown fails the test if the bot sent anything the spec rejects

Other drivers: ``send_autocomplete``, ``click_button`` / ``select_menu``,
``submit_modal``, ``send_message`` (guild or ``guild_id=None`` for DMs) with
``wait_for_channel_message`` / ``wait_for_dm``; faults: ``drop_gateway``,
``send_reconnect``, ``send_invalid_session``, ``fail_next``.

Sharded bots: each IDENTIFY with ``shard: [id, count]`` gets a session of its own, and a guild, its
events and its interactions go to the session of its shard (``(guild_id >> 22) % count``; DMs to shard
0), as on Discord. ``add_guild(..., shard=(id, count))`` makes a guild that lands on a given shard.
"""

from __future__ import annotations

from .interactions import (
    CallbackType,
    InteractionCallback,
    InteractionFailed,
    InteractionHandle,
    InteractionType,
    OptionType,
)
from .models import (
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
)
from .openapi import SpecValidator, default_spec_path, load_spec_validator
from .records import FaultRule, GatewayFrame, RecordedRequest
from .server import FakeDiscord, point_discord_py_at

__all__ = [
    "CallbackType",
    "ChannelType",
    "FakeAttachment",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeMember",
    "FakeMessage",
    "FakeRole",
    "FakeUser",
    "FaultRule",
    "GatewayFrame",
    "Intents",
    "InteractionCallback",
    "InteractionFailed",
    "InteractionHandle",
    "InteractionType",
    "MessageFlags",
    "OptionType",
    "Perm",
    "RecordedRequest",
    "SpecValidator",
    "UploadedFile",
    "default_spec_path",
    "load_spec_validator",
    "point_discord_py_at",
]
