"""Moderators' commands: /reload, and /article add, remove and show."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index import ArticleIndexError

from ..articles import (
    ArticleRejected,
    SavedArticle,
    article_to_remove,
    fetch_page,
    page_as_article,
    remove_article_file,
    save_article,
    undo_save,
)
from ..checks import moderator_only
from ..formatting import article_choices, article_embed, error_embed, reload_embed
from ..privacy import hashed_user
from ..respond import AUTOCOMPLETE_SECONDS, collection_for, defer_thinking, send_or_edit

if TYPE_CHECKING:
    from ..client import ArticleBot
    from ..collections import Collection

logger = logging.getLogger(__name__)

NOW_EMPTY = "No articles are left, so nothing is quoted until some are added with `/article add`."


class ModerationCog(commands.Cog):
    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot

    def _who(self, interaction: discord.Interaction) -> str:
        """The moderator as named in the log: a keyed hash, never the raw user id."""
        return hashed_user(interaction.user.id, self.bot.question_log.log)

    def _why(self, error: Exception, what: str) -> str:
        """Why ``what`` failed, for a moderator: an index error's own message (server folders shown relative
        to SERVER_COLLECTIONS_DIR), or else the error's kind, its details going to the log."""
        if isinstance(error, ArticleIndexError):
            return self.bot.collections.shown_to_moderators(str(error))
        logger.error("%s failed", what, exc_info=error)
        return f"{type(error).__name__}; the details are in the bot's log"

    @app_commands.command(name="reload", description="Re-read the articles folder and update the index (moderators).")
    @app_commands.default_permissions(manage_guild=True)
    @moderator_only()
    async def reload(self, interaction: discord.Interaction) -> None:
        await defer_thinking(interaction, ephemeral=True)
        try:
            collection = await self.bot.collections.get(interaction.guild_id)
            report = await collection.service.reload()
        except Exception as error:
            embed = error_embed(f"The reload failed, so the previous index is still serving.\n{self._why(error, 'A reload')}")
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
            page = await fetch_page(
                url.strip(),
                max_bytes=settings.fetch_max_bytes,
                timeout=settings.fetch_timeout_seconds,
                allow_private=settings.allow_private_urls,
            )
            name, data = await asyncio.to_thread(page_as_article, page)
        collection = await self.bot.collections.get(interaction.guild_id)  # a moderator manages only this server's
        # A page's file name comes from its link: another name cannot be chosen, only the page saved again.
        taken_advice = "choose another name or set replace" if url is None else "set replace to save the page as it is now"
        saved = await asyncio.to_thread(
            save_article, collection.articles_dir, name, data, settings.upload_max_bytes, replace, taken_advice=taken_advice
        )
        try:
            report = await collection.service.reload_after_change()
            summary = next((s for s in collection.index.summaries() if s.id == saved.article.id), None)
            if summary is None:  # the reload did not take it in
                reasons = [reason for article_id, reason in report.skipped if article_id == saved.article.id]
                raise ArticleRejected("; ".join(reasons) or "the reload did not index it")
        except Exception as error:
            reason = self._why(error, f"Indexing the added article {saved.path.name}")
            raise ArticleRejected(await self._undo_add(collection, saved, reason)) from None
        logger.info("Article %s added to %s by %s", saved.path.name, collection.name, self._who(interaction))
        verb = "Replaced" if saved.replaced else "Added"
        await interaction.edit_original_response(embed=article_embed(summary, f"{verb} {saved.path.name}: it can be asked about now"))

    async def _undo_add(self, collection: Collection, saved: SavedArticle, reason: str) -> str:
        """Put the articles folder back as it was before a save whose indexing failed (no file left behind
        that nobody can see or remove, no replaced text lost); returns what the moderator is told. (The index
        needs nothing: a reload that fails, saving included, leaves the one serving before it.)"""
        what = f"{saved.path.name} was not {'replaced' if saved.replaced else 'added'} ({reason.rstrip('.')})"
        try:
            await asyncio.to_thread(undo_save, saved)
        except OSError as error:
            logger.error("Could not undo saving %s in %s: %s", saved.path, collection.name, error)
            return f"{what}, and its file could not be put back as it was: please tell the bot's operator."
        return f"{what}; the articles folder is as it was."

    @article.command(name="remove", description="Remove an article; it stops being quoted at once.")
    @moderator_only()
    async def remove(self, interaction: discord.Interaction, article: str) -> None:
        collection = await collection_for(interaction, ephemeral=True)
        collection.service.check_writable()
        article_id = article_to_remove(collection.index, article)  # only this server's articles can be found
        if not interaction.response.is_done():
            await defer_thinking(interaction, ephemeral=True)
        deleted = await asyncio.to_thread(remove_article_file, collection.articles_dir, article_id)
        try:
            # allow_empty: removing the last article empties the collection; the folder is not missing
            report = await collection.service.reload_after_change(allow_empty=True)
        except Exception as error:
            reason = self._why(error, f"The reload after removing {article_id}")
            await interaction.edit_original_response(embed=error_embed(
                f"{article_id} was taken out of the articles folder, but the reload failed, so it is still quoted "
                f"until a /reload succeeds.\n{reason}"
            ))
            return
        logger.info("Article %s removed from %s by %s", article_id, collection.name, self._who(interaction))
        embed = reload_embed(report).set_author(name=f"Removed {article_id}")
        notes = [] if deleted else ["Its file was already gone from the articles folder; the index now matches the folder."]
        if report.articles == 0:
            notes.append(NOW_EMPTY)
        embed.description = "\n".join([embed.description or "", *notes])
        await interaction.edit_original_response(embed=embed)

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
