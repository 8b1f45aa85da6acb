"""Members' questions: the /ask command, direct messages, and mentions in server channels."""
from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index import Answer, ArticleIndexError

from ..checks import AskingTooFast
from ..formatting import NO_PINGS, answer_embed, article_choices, error_embed, secondary_button, slow_down_text
from ..questionlog import ChannelKind, QuotedPassage, QuestionLogError, VoteOutcome, VoteResult
from ..respond import AUTOCOMPLETE_SECONDS, QUICK_REPLY_SECONDS, defer_thinking, send_or_edit

if TYPE_CHECKING:
    from ..client import ArticleBot

logger = logging.getLogger(__name__)

QUESTION_MAX_LENGTH = 500
HELP_TEXT = "Ask me a question about the articles and I'll answer by quoting them, e.g. `/ask question: Who claimed a truce deal was close?`"


def _vote_name(helpful: bool) -> str:
    return "helpful" if helpful else "not helpful"


def vote_reply(result: VoteResult) -> str:
    """What a member is told, privately, after clicking a feedback button."""
    vote = _vote_name(result.helpful)
    if result.outcome is VoteOutcome.RECORDED:
        return f"Thanks! Your vote ({vote}) is recorded. Each member has one vote per answer; click the other button to change it."
    if result.outcome is VoteOutcome.CHANGED:
        return f"Your vote on this answer is now: {vote}. Each member has one vote per answer."
    if result.outcome is VoteOutcome.UNCHANGED:
        return f"You already voted {vote} on this answer, so nothing changed (one vote per member per answer)."
    return "I have no record of this answer (it may be older than the question log keeps), so your vote could not be counted."


class FeedbackButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"feedback:(?P<answer_id>[0-9]{1,20}):(?P<vote>helpful|unhelpful)",
):
    """'Helpful' / 'Not helpful' under an answer. The answer id is in the custom_id, so a click on an answer
    sent before a restart still reaches the bot (the class is registered when the ask cog loads)."""

    def __init__(self, answer_id: int, helpful: bool) -> None:
        super().__init__(
            secondary_button(
                "Helpful" if helpful else "Not helpful", "👍" if helpful else "👎", f"feedback:{answer_id}:{'helpful' if helpful else 'unhelpful'}"
            )
        )
        self.answer_id = answer_id
        self.helpful = helpful

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]) -> FeedbackButton:
        return cls(int(match["answer_id"]), match["vote"] == "helpful")

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: ArticleBot = interaction.client  # type: ignore[assignment]
        vote = asyncio.ensure_future(
            bot.question_log.record_vote(self.answer_id, member_id=interaction.user.id, helpful=self.helpful)
        )
        try:
            # The log may wait on another process's write for seconds: past Discord's deadline, unless deferred.
            done, _ = await asyncio.wait({vote}, timeout=QUICK_REPLY_SECONDS)
            if not done:
                await defer_thinking(interaction, ephemeral=True)
            try:
                text = vote_reply(await vote)
            except (QuestionLogError, OSError, sqlite3.Error) as error:
                logger.warning("Could not record a vote on answer %s: %s", self.answer_id, error)
                text = "Sorry, your vote could not be recorded right now; please try again later."
            await send_or_edit(interaction, content=text, ephemeral=True, allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            logger.warning("Could not acknowledge a vote (the interaction may have expired)", exc_info=True)


def feedback_view(answer_id: int) -> discord.ui.View:
    """The two buttons, as a view that is sent but never kept: clicks reach FeedbackButton through the class
    registered by the ask cog. (A view discord.py kept would be dropped when it times out, as an ephemeral
    reply's does after 15 minutes, and dropping it would unregister FeedbackButton for every answer.)"""
    view = discord.ui.View(timeout=None)
    view.add_item(FeedbackButton(answer_id, helpful=True))
    view.add_item(FeedbackButton(answer_id, helpful=False))
    view.stop()  # finished views are still sent, but discord.py does not store them
    return view


class AskCog(commands.Cog):
    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(FeedbackButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(FeedbackButton)

    async def _answer(self, guild_id: int | None, question: str, article: str | None = None) -> Answer:
        """The answer from the collection of the server asked in (None: a direct message)."""
        collection = await self.bot.collections.get(guild_id)
        return await collection.ask(question, article)

    def _log_answer(self, answer: Answer, *, answer_id: int, member_id: int, guild_id: int | None, via: str) -> dict:
        """Queue the question for the log (never waiting for it, never failing the answer) and return the
        extra arguments for the reply: the feedback buttons when the answer quotes something."""
        log = self.bot.question_log
        try:
            log.record_question_soon(
                answer.question,
                question_id=answer_id,
                member_id=member_id,
                answered=answer.answered,
                channel_kind=ChannelKind.GUILD if guild_id is not None else ChannelKind.DM,
                guild_id=guild_id,
                asked_via=via,
                top_article=answer.results[0].article_id if answer.results else None,
                passages=[QuotedPassage(r.article_id, r.section, r.quote) for r in answer.results] if answer.answered else (),
            )
        except Exception:
            logger.warning("Could not log a question", exc_info=True)
        if answer.answered and answer.results and log.available:
            return {"view": feedback_view(answer_id)}
        return {}

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
        with self.bot.answering():
            await self._ask(interaction, question, article, private)

    async def _ask(self, interaction: discord.Interaction, question: str, article: str | None, private: bool) -> None:
        retry_after = self.bot.cooldowns.retry_after(interaction.user.id)
        if retry_after is not None:
            raise AskingTooFast(retry_after)
        search = asyncio.ensure_future(self._answer(interaction.guild_id, question, article))
        done, _ = await asyncio.wait({search}, timeout=QUICK_REPLY_SECONDS)
        where = dict(answer_id=interaction.id, member_id=interaction.user.id, guild_id=interaction.guild_id, via="ask")
        if search in done:
            answer = search.result()
            extras = self._log_answer(answer, **where)
            await interaction.response.send_message(embed=answer_embed(answer), ephemeral=private, allowed_mentions=NO_PINGS, **extras)
            return
        await defer_thinking(interaction, ephemeral=private)
        answer = await search
        extras = self._log_answer(answer, **where)
        await interaction.edit_original_response(embed=answer_embed(answer), allowed_mentions=NO_PINGS, **extras)

    @ask.autocomplete("article")
    async def _article_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        collection = await self.bot.collections.get_within(interaction.guild_id, AUTOCOMPLETE_SECONDS)
        return article_choices(collection.index, current) if collection is not None else []

    def _question_in(self, message: discord.Message) -> str | None:
        """The question a message asks the bot, or None if it is not addressed to the bot. In a server, the
        message must mention the bot in its text (or the bot's own role, which Discord offers beside it): a
        reply to one of its answers ("thanks!") also lists it among the mentions, but asks nothing."""
        me = self.bot.user
        if me is None or message.author.bot or message.author.id == me.id:
            return None
        addressed = [rf"<@!?{me.id}>"]
        if message.guild is not None:
            own_role = message.guild.self_role
            if own_role is not None:
                addressed.append(rf"<@&{own_role.id}>")
            # (the role from the message's mention list: without the message content intent, Discord may send
            # such a message with its text blanked, and the member then gets the help)
            if me.id not in message.raw_mentions and (own_role is None or own_role not in message.role_mentions):
                return None
        return re.sub("|".join(addressed), " ", message.content).strip()

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        question = self._question_in(message)
        if question is None:
            return
        with self.bot.answering():
            await self._answer_message(message, question)

    async def _answer_message(self, message: discord.Message, question: str) -> None:
        if not question:
            await reply_to(message, embed=discord.Embed(description=HELP_TEXT))
            return
        retry_after = self.bot.cooldowns.retry_after(message.author.id)
        if retry_after is not None:
            # Told once per wait: a reply to every message of someone who keeps asking would flood the channel.
            if self.bot.cooldowns.first_refusal(message.author.id, retry_after):
                await reply_to(message, embed=error_embed(slow_down_text(retry_after)))
            return
        guild_id = message.guild.id if message.guild is not None else None
        try:
            answer = await self._answer(guild_id, question)
        except ArticleIndexError as error:
            await reply_to(message, embed=error_embed(str(error)))
            return
        except Exception:
            logger.exception("Answering a message failed")
            await reply_to(message, embed=error_embed("Sorry, something went wrong while answering. It has been logged."))
            return
        extras = self._log_answer(answer, answer_id=message.id, member_id=message.author.id, guild_id=guild_id, via="message")
        await reply_to(message, embed=answer_embed(answer), **extras)


async def reply_to(message: discord.Message, **reply) -> None:
    """Answer a message: in a server as a reply to it (a plain message if it was deleted meanwhile). Replying
    needs Read Message History, which a channel may withhold: the answer then goes to the channel as a plain
    message. One that cannot be sent at all (no Send Messages, DMs closed) is logged in one line, as there is
    no one else to tell."""
    reply = dict(reply, allowed_mentions=NO_PINGS)
    try:
        if message.guild is not None:
            try:
                reference = message.to_reference(fail_if_not_exists=False)
                await message.channel.send(reference=reference, mention_author=False, **reply)
                return
            except discord.Forbidden as error:
                logger.info("Could not reply to a message (%s); sending the answer as a plain message", error.text)
        await message.channel.send(**reply)
    except discord.HTTPException as error:
        logger.warning("Could not answer a message in channel %s: %s", message.channel.id, error.text or error.status)
