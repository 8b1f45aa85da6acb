"""Moderators' commands: /reload, and /article add, remove and show."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index import ArticleIndexError

from ..articles import ArticleRejected, fetch_page, page_as_markdown, remove_article_file, save_article
from ..checks import moderator_only
from ..formatting import article_choices, article_embed, error_embed, reload_embed
from ..privacy import hashed_user
from ..respond import AUTOCOMPLETE_SECONDS, collection_for, defer_thinking, send_or_edit

if TYPE_CHECKING:
    from ..client import ArticleBot

logger = logging.getLogger(__name__)


class ModerationCog(commands.Cog):
    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot

    def _who(self, interaction: discord.Interaction) -> str:
        """The moderator as named in the log: a keyed hash, never the raw user id."""
        return hashed_user(interaction.user.id, self.bot.question_log.log)

    @app_commands.command(name="reload", description="Re-read the articles folder and update the index (moderators).")
    @app_commands.default_permissions(manage_guild=True)
    @moderator_only()
    async def reload(self, interaction: discord.Interaction) -> None:
        await defer_thinking(interaction, ephemeral=True)
        try:
            collection = await self.bot.collections.get(interaction.guild_id)
            report = await collection.service.reload()
        except ArticleIndexError as error:
            embed = error_embed(f"The reload failed, so the previous index is still serving.\n{error}")
        except Exception as error:
            logger.exception("Reload failed")
            embed = error_embed(
                f"The reload failed ({type(error).__name__}), so the previous index is still serving. "
                "The details are in the bot's log."
            )
        else:
            logger.info("Reload by %s of %s: %s", self._who(interaction), collection.name, report)
            embed = reload_embed(report)
        await interaction.edit_original_response(embed=embed)

    article = app_commands.Group(
        name="article",
        description="Add, remove or inspect articles (moderators).",
        default_permissions=discord.Permissions(manage_guild=True),
    )

    @article.command(name="add", description="Add an article from an attached .txt, .md or .html file, or from a web page.")
    @app_commands.describe(file="The article file", url="A web page to fetch", replace="Replace a different article saved under the same name")
    @moderator_only()
    async def add(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment | None = None,
        url: str | None = None,
        replace: bool = False,
    ) -> None:
        self.bot.service.check_writable()
        if (file is None) == (url is None):
            raise ArticleRejected("Attach one file or give one URL.")
        settings = self.bot.settings
        if file is not None and file.size > settings.upload_max_bytes:
            raise ArticleRejected(f"{file.filename} is {file.size / 1024:.0f} KiB; the limit is {settings.upload_max_bytes / 1024:.0f} KiB.")
        await defer_thinking(interaction, ephemeral=True)
        if file is not None:
            try:
                name, data = file.filename, await file.read()
            except discord.HTTPException:
                raise ArticleRejected(f"Could not download {file.filename} from Discord; please try again.") from None
        else:
            final_url, page = await fetch_page(
                url.strip(),
                max_bytes=settings.fetch_max_bytes,
                timeout=settings.fetch_timeout_seconds,
                allow_private=settings.allow_private_urls,
            )
            name, data = await asyncio.to_thread(page_as_markdown, final_url, page)
        collection = await self.bot.collections.get(interaction.guild_id)  # a moderator manages only this server's
        saved = await asyncio.to_thread(save_article, collection.articles_dir, name, data, settings.upload_max_bytes, replace)
        report = await collection.service.reload_after_change()
        logger.info("Article %s added to %s by %s", saved.path.name, collection.name, self._who(interaction))
        summary = next((s for s in collection.index.summaries() if s.id == saved.article.id), None)
        verb = "Replaced" if saved.replaced else "Added"
        if summary is None:  # the reload did not take it in: say why rather than pretend
            raise ArticleRejected(f"{saved.path.name} was saved but is not indexed: {report.skipped or 'see the log'}")
        await interaction.edit_original_response(embed=article_embed(summary, f"{verb} {saved.path.name}: it can be asked about now"))

    @article.command(name="remove", description="Remove an article; it stops being quoted at once.")
    @moderator_only()
    async def remove(self, interaction: discord.Interaction, article: str) -> None:
        collection = await collection_for(interaction, ephemeral=True)
        collection.service.check_writable()
        article_id = collection.index.find_article(article)  # only this server's articles can be found
        if not interaction.response.is_done():
            await defer_thinking(interaction, ephemeral=True)
        await asyncio.to_thread(remove_article_file, collection.articles_dir, article_id)
        report = await collection.service.reload_after_change()
        logger.info("Article %s removed from %s by %s", article_id, collection.name, self._who(interaction))
        await interaction.edit_original_response(embed=reload_embed(report).set_author(name=f"Removed {article_id}"))

    @article.command(name="show", description="Show an article's source and sections.")
    @moderator_only()
    async def show(self, interaction: discord.Interaction, article: str) -> None:
        collection = await collection_for(interaction, ephemeral=True)
        article_id = collection.index.find_article(article)
        summary = next(s for s in collection.index.summaries() if s.id == article_id)
        await send_or_edit(interaction, embed=article_embed(summary, summary.title), ephemeral=True)

    @remove.autocomplete("article")
    @show.autocomplete("article")
    async def _article_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        collection = await self.bot.collections.get_within(interaction.guild_id, AUTOCOMPLETE_SECONDS)
        return article_choices(collection.index, current) if collection is not None else []
