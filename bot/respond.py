"""Acknowledging interactions so that a lost response from Discord never leaves a member without an answer."""
from __future__ import annotations

import logging

import discord

logger = logging.getLogger(__name__)

ALREADY_ACKNOWLEDGED = 40060  # Discord's error code for a second response to one interaction


async def defer_thinking(interaction: discord.Interaction, *, ephemeral: bool) -> None:
    """Show "thinking…" now and edit the answer in later.

    discord.py retries a callback after a 5xx; if Discord had in fact taken the first one and only its
    response was lost, the retry is refused as already acknowledged. The interaction is then deferred all
    the same, so carry on (and remember it, as discord.py would have) instead of failing the command and
    leaving "thinking…" on screen for good."""
    try:
        await interaction.response.defer(thinking=True, ephemeral=ephemeral)
    except discord.HTTPException as error:
        if error.code != ALREADY_ACKNOWLEDGED:
            raise
        logger.info("Discord had already taken the deferral of an interaction (its response was lost); going on")
        interaction.response._response_type = discord.InteractionResponseType.deferred_channel_message
