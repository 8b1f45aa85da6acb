"""/stats for moderators: what members ask, how much is answered, their feedback, and the index's size."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ..checks import moderator_only
from ..collections import Collection
from ..formatting import ANSWER_COLOUR, DESCRIPTION_LIMIT, NO_PINGS, error_embed, escape, shorten
from ..questionlog import IndexSize, Stats, saved_index_size
from ..respond import defer_thinking

if TYPE_CHECKING:
    from ..client import ArticleBot

logger = logging.getLogger(__name__)

UNANSWERED_SHOWN = 10
QUESTION_PREVIEW = 200  # characters of each unanswered question shown


def stats_embed(stats: Stats, index: IndexSize | None) -> discord.Embed:
    """The /stats reply: counts first, then the latest unanswered questions (escaped, within Discord's limits)."""
    embed = discord.Embed(title="Question stats", colour=ANSWER_COLOUR)
    share = f" ({stats.answered_share:.0%})" if stats.answered_share is not None else ""
    embed.add_field(name="Questions", value=f"{stats.questions} asked\n{stats.answered} answered{share}")
    embed.add_field(name="Feedback", value=f"👍 {stats.helpful_votes} helpful\n👎 {stats.not_helpful_votes} not helpful")
    if index is None:
        embed.add_field(name="Index", value="No index yet")
    else:
        updated = f"\nupdated <t:{int(index.updated_at)}:R>" if index.updated_at else ""
        embed.add_field(name="Index", value=f"{index.articles} articles\n{index.passages} passages{updated}")
    if not stats.latest_unanswered:
        embed.description = "No unanswered questions." if stats.questions else "No questions asked yet."
        return embed
    lines = [f"**Latest unanswered questions** ({len(stats.latest_unanswered)} of {stats.unanswered})"]
    for question in stats.latest_unanswered:
        where = " (DM)" if question.channel_kind == "dm" else ""
        line = f"• <t:{int(question.asked_at)}:R>{where} {escape(shorten(question.question, QUESTION_PREVIEW))}"
        if sum(len(x) + 1 for x in lines) + len(line) > DESCRIPTION_LIMIT:
            break
        lines.append(line)
    embed.description = "\n".join(lines)
    return embed


class StatsCog(commands.Cog):
    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot

    async def _index_size(self, collection: Collection) -> IndexSize:
        """What is serving now; the update time from the saved index (else the newest article's)."""
        summaries = collection.index.summaries()
        try:
            saved = await asyncio.to_thread(saved_index_size, collection.index_dir)
        except Exception as error:
            logger.warning("Could not read the saved index's manifest: %s", error)
            saved = None
        updated = saved.updated_at if saved is not None else max((s.indexed_at for s in summaries), default=None)
        return IndexSize(len(summaries), sum(s.passages for s in summaries), updated)

    @app_commands.command(name="stats", description="Questions asked and answered, feedback, and the index (moderators).")
    @app_commands.default_permissions(manage_guild=True)
    @moderator_only()
    async def stats(self, interaction: discord.Interaction) -> None:
        await defer_thinking(interaction, ephemeral=True)
        # Only this server's questions and votes (in a DM, direct messages'), whether or not servers share one
        # collection: a server's moderators never read what members asked elsewhere. (The whole log is the
        # operator's: `article-bot stats`.)
        collection = await self.bot.collections.get(interaction.guild_id)
        try:
            stats = await self.bot.question_log.stats(UNANSWERED_SHOWN, interaction.guild_id)
        except Exception as error:
            logger.warning("Could not read the question log: %s", error)
            embed = error_embed("The question log cannot be read right now; the details are in the bot's log.")
        else:
            embed = stats_embed(stats, await self._index_size(collection))
        await interaction.edit_original_response(embed=embed, allowed_mentions=NO_PINGS)
