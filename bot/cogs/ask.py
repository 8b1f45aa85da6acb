"""Members' questions: the /ask command, direct messages, and mentions in server channels."""
from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index import ArticleIndexError

from ..checks import AskingTooFast
from ..formatting import NO_PINGS, answer_embed, error_embed, shorten

if TYPE_CHECKING:
    from ..client import ArticleBot

logger = logging.getLogger(__name__)

QUESTION_MAX_LENGTH = 500
# Answer at once if the search is this quick; otherwise defer first so Discord's 3-second deadline is met.
QUICK_REPLY_SECONDS = 1.5
HELP_TEXT = "Ask me a question about the articles and I'll answer by quoting them, e.g. `/ask question: Who claimed a truce deal was close?`"


class AskCog(commands.Cog):
    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot

    @app_commands.command(name="ask", description="Ask a question; the answer quotes the articles.")
    @app_commands.describe(
        question="What do you want to know?",
        article="Search only this article",
        private="Only you see the answer",
    )
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, QUESTION_MAX_LENGTH],
        article: str | None = None,
        private: bool = False,
    ) -> None:
        retry_after = self.bot.cooldowns.retry_after(interaction.user.id)
        if retry_after is not None:
            raise AskingTooFast(retry_after)
        search = asyncio.ensure_future(self.bot.service.ask(question, article))
        done, _ = await asyncio.wait({search}, timeout=QUICK_REPLY_SECONDS)
        if search in done:
            await interaction.response.send_message(embed=answer_embed(search.result()), ephemeral=private, allowed_mentions=NO_PINGS)
            return
        await interaction.response.defer(thinking=True, ephemeral=private)
        await interaction.edit_original_response(embed=answer_embed(await search), allowed_mentions=NO_PINGS)

    @ask.autocomplete("article")
    async def article_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        matches = self.bot.service.index.matching_articles(current, limit=25)
        return [app_commands.Choice(name=shorten(a.title, 100), value=a.id[:100]) for a in matches]

    def _question_in(self, message: discord.Message) -> str | None:
        """The question a message asks the bot, or None if it is not addressed to the bot."""
        me = self.bot.user
        if me is None or message.author.bot or message.author.id == me.id:
            return None
        if message.guild is not None and me not in message.mentions:
            return None
        return re.sub(rf"<@!?{me.id}>", " ", message.content).strip()

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        question = self._question_in(message)
        if question is None:
            return

        async def reply(embed: discord.Embed) -> None:
            if message.guild is None:
                await message.channel.send(embed=embed, allowed_mentions=NO_PINGS)
            else:
                await message.reply(embed=embed, mention_author=False, allowed_mentions=NO_PINGS)

        if not question:
            await reply(discord.Embed(description=HELP_TEXT))
            return
        retry_after = self.bot.cooldowns.retry_after(message.author.id)
        if retry_after is not None:
            await reply(error_embed(f"You're asking quickly; try again in {retry_after:.0f} s."))
            return
        try:
            answer = await self.bot.service.ask(question)
        except ArticleIndexError as error:
            await reply(error_embed(str(error)))
            return
        except Exception:
            logger.exception("Answering a message failed")
            await reply(error_embed("Sorry, something went wrong while answering. It has been logged."))
            return
        await reply(answer_embed(answer))
