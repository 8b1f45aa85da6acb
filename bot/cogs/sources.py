"""/sources: what is indexed, paged with buttons."""
from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ..collections import NO_SERVER_ARTICLES
from ..formatting import NO_PINGS, sources_pages
from ..respond import collection_for, send_or_edit

if TYPE_CHECKING:
    from ..client import ArticleBot


class PageView(discord.ui.View):
    """Previous / Next buttons over a list of embeds, for the member who asked."""

    def __init__(self, pages: list[discord.Embed], owner_id: int, timeout: float = 300) -> None:
        super().__init__(timeout=timeout)
        self.pages = pages
        self.owner_id = owner_id
        self.page = 0
        self.message: discord.InteractionMessage | None = None
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page == len(self.pages) - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message("Run `/sources` yourself to turn the pages.", ephemeral=True)
        return False

    async def _show(self, interaction: discord.Interaction, page: int) -> None:
        self.page = max(0, min(page, len(self.pages) - 1))
        self._update_buttons()
        await interaction.response.edit_message(embed=self.pages[self.page], view=self)

    @discord.ui.button(label="Previous", emoji="◀️", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, self.page - 1)

    @discord.ui.button(label="Next", emoji="▶️", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, self.page + 1)

    async def on_timeout(self) -> None:
        if self.message is not None:
            for item in self.children:
                item.disabled = True  # type: ignore[attr-defined]
            try:
                await self.message.edit(view=self)
            except discord.HTTPException:
                pass  # the message is gone or the token expired; nothing to tidy


class SourcesCog(commands.Cog):
    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot

    @app_commands.command(name="sources", description="List the indexed articles and their sections.")
    async def sources(self, interaction: discord.Interaction) -> None:
        collection = await collection_for(interaction, ephemeral=False)  # the articles of this server only
        empty_text = NO_SERVER_ARTICLES if collection.guild_id is not None else None
        pages = sources_pages(collection.index.summaries(), empty_text)
        if len(pages) == 1:
            await send_or_edit(interaction, embed=pages[0], allowed_mentions=NO_PINGS)
            return
        view = PageView(pages, owner_id=interaction.user.id)
        await send_or_edit(interaction, embed=pages[0], view=view, allowed_mentions=NO_PINGS)
        view.message = await interaction.original_response()
