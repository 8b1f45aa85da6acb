from __future__ import annotations

from .pytest_plugin import discord_spec, fake_discord, fake_discord_factory  # noqa: F401
