"""/sources: what is indexed, paged with buttons."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ..formatting import NO_PINGS, secondary_button, sources_pages
from ..respond import QUICK_REPLY_SECONDS, collection_for, send_or_edit

if TYPE_CHECKING:
    from ..client import ArticleBot


class PageButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"sources:(?P<owner_id>[0-9]{1,20}):(?P<page>[0-9]{1,6}):(?P<step>previous|next)",
):
    """Previous / Next under a /sources listing, for the member who asked. Who asked and the page shown are
    in the custom_id, so a click on a listing sent before a restart still turns its page (the class is
    registered when the sources cog loads); the pages are made again from the articles indexed now."""

    def __init__(self, owner_id: int, page: int, forward: bool, disabled: bool = False) -> None:
        step = "next" if forward else "previous"
        super().__init__(
            secondary_button("Next" if forward else "Previous", "▶️" if forward else "◀️", f"sources:{owner_id}:{page}:{step}", disabled)
        )
        self.owner_id = owner_id
        self.page = page
        self.forward = forward

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]) -> PageButton:
        return cls(int(match["owner_id"]), int(match["page"]), match["step"] == "next")

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message("Run `/sources` yourself to turn the pages.", ephemeral=True)
        return False

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: ArticleBot = interaction.client  # type: ignore[assignment]
        collection = await bot.collections.get_within(interaction.guild_id, QUICK_REPLY_SECONDS)
        if collection is None:  # still opening (say, just after a restart): acknowledge the click first
            await interaction.response.defer()
            collection = await bot.collections.get(interaction.guild_id)
        pages = sources_pages(collection.index.summaries(), collection.no_articles_text)
        page = max(0, min(self.page + (1 if self.forward else -1), len(pages) - 1))
        message = dict(embed=pages[page], view=page_view(len(pages), page, self.owner_id), allowed_mentions=NO_PINGS)
        if interaction.response.is_done():
            await interaction.edit_original_response(**message)
        else:
            await interaction.response.edit_message(**message)


def page_view(page_count: int, page: int, owner_id: int) -> discord.ui.View | None:
    """The buttons under page ``page`` of ``page_count`` (None for a single page), as a view that is sent but
    never kept: clicks reach PageButton through the class registered by the sources cog, however old the
    listing. (A kept view would stop answering when it timed out or the bot restarted.)"""
    if page_count <= 1:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(PageButton(owner_id, page, forward=False, disabled=page == 0))
    view.add_item(PageButton(owner_id, page, forward=True, disabled=page == page_count - 1))
    view.stop()  # finished views are still sent, but discord.py does not store them
    return view


class SourcesCog(commands.Cog):
    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PageButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(PageButton)

    @app_commands.command(name="sources", description="List the indexed articles and their sections.")
    async def sources(self, interaction: discord.Interaction) -> None:
        collection = await collection_for(interaction, ephemeral=False)  # the articles of this server only
        pages = sources_pages(collection.index.summaries(), collection.no_articles_text)
        view = page_view(len(pages), 0, interaction.user.id)
        extras = {"view": view} if view is not None else {}
        await send_or_edit(interaction, embed=pages[0], allowed_mentions=NO_PINGS, **extras)
