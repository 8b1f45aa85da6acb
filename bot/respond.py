"""Answering interactions within Discord's deadlines, and so that a lost response from Discord never leaves a member without an answer."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

if TYPE_CHECKING:
    from .collections import Collection

logger = logging.getLogger(__name__)

ALREADY_ACKNOWLEDGED = 40060  # Discord's error code for a second response to one interaction
# Answer at once if the work is this quick; otherwise defer first so Discord's 3-second deadline is met.
QUICK_REPLY_SECONDS = 1.5
# How long an autocomplete waits for a collection to open (Discord allows 3 s); the opening goes on after.
AUTOCOMPLETE_SECONDS = 2.0


async def defer_thinking(interaction: discord.Interaction, *, ephemeral: bool) -> None:
    """Show "thinking…" now and edit the answer in later.

    discord.py retries a callback after a 5xx; if Discord had in fact taken the first one and only its
    response was lost, the retry is refused as already acknowledged. The interaction is then deferred all
    the same, so carry on (and remember it, as discord.py would have) instead of failing the command and
    leaving "thinking…" on screen for good."""
    interaction.extras["private"] = ephemeral  # whether what replaces "thinking…" is seen by the user alone
    try:
        await interaction.response.defer(thinking=True, ephemeral=ephemeral)
    except discord.HTTPException as error:
        if error.code != ALREADY_ACKNOWLEDGED:
            raise
        logger.info("Discord had already taken the deferral of an interaction (its response was lost); going on")
        interaction.response._response_type = discord.InteractionResponseType.deferred_channel_message


async def collection_for(interaction: discord.Interaction, *, ephemeral: bool) -> Collection:
    """The collection of the server the interaction came from (its DM: the default one). If it is still
    opening after QUICK_REPLY_SECONDS, "thinking…" is shown first: check ``interaction.response.is_done()``."""
    collections = interaction.client.collections  # type: ignore[attr-defined]
    collection = await collections.get_within(interaction.guild_id, QUICK_REPLY_SECONDS)
    if collection is None:
        await defer_thinking(interaction, ephemeral=ephemeral)
        collection = await collections.get(interaction.guild_id)
    return collection


async def send_or_edit(interaction: discord.Interaction, *, ephemeral: bool = False, **message) -> None:
    """Send the reply, or put it in place of "thinking…" when the interaction was deferred (by collection_for)."""
    if interaction.response.is_done():
        await interaction.edit_original_response(**message)
    else:
        await interaction.response.send_message(ephemeral=ephemeral, **message)
