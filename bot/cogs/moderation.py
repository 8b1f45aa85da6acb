"""Moderators' commands: /reload."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index import ArticleIndexError

from ..checks import moderator_only
from ..formatting import error_embed, reload_embed

if TYPE_CHECKING:
    from ..client import ArticleBot

logger = logging.getLogger(__name__)


class ModerationCog(commands.Cog):
    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot

    @app_commands.command(name="reload", description="Re-read the articles folder and update the index (moderators).")
    @app_commands.default_permissions(manage_guild=True)
    @moderator_only()
    async def reload(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            report = await self.bot.service.reload()
        except ArticleIndexError as error:
            embed = error_embed(f"The reload failed, so the previous index is still serving.\n{error}")
        except Exception as error:
            logger.exception("Reload failed")
            embed = error_embed(
                f"The reload failed ({type(error).__name__}), so the previous index is still serving. "
                "The details are in the bot's log."
            )
        else:
            logger.info("Reload by %s: %s", interaction.user.id, report)
            embed = reload_embed(report)
        await interaction.edit_original_response(embed=embed)
