"""Who may do what: moderator checks run in the bot's own code, whatever Discord clients show."""
from __future__ import annotations

import time

import discord
from discord import app_commands

from .settings import Settings


class NotModerator(app_commands.CheckFailure):
    """Raised when someone who is not a moderator uses a moderator command."""


class AskingTooFast(app_commands.CheckFailure):
    """The member's question cooldown has not run out."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after:.0f} s")
        self.retry_after = retry_after


def is_moderator(interaction: discord.Interaction, settings: Settings) -> bool:
    """Manage Server permission, a configured moderator role, or a configured moderator user id.

    Checked here on every use: ``default_permissions`` only hides commands in Discord clients."""
    user = interaction.user
    if user.id in settings.moderator_user_ids:
        return True
    if interaction.guild is None or not isinstance(user, discord.Member):
        return False
    if interaction.permissions.manage_guild:  # resolved by Discord for this member (administrators included)
        return True
    return any(role.id in settings.moderator_role_ids for role in user.roles)


def moderator_only():
    """An app command check that refuses non-moderators with NotModerator."""

    async def predicate(interaction: discord.Interaction) -> bool:
        if is_moderator(interaction, interaction.client.settings):  # type: ignore[attr-defined]
            return True
        raise NotModerator("moderators only")

    return app_commands.check(predicate)


class MemberCooldowns:
    """A per-member limit of ``rate`` questions per ``per`` seconds, shared by /ask, DMs and mentions."""

    def __init__(self, rate: int, per: float) -> None:
        self.rate = rate
        self.per = per
        self._buckets: dict[int, app_commands.Cooldown] = {}
        self._told_until: dict[int, float] = {}  # member -> end of the wait they were last told about

    def retry_after(self, user_id: int) -> float | None:
        """None if the member may ask now (and counts the question), else seconds to wait."""
        if self.per <= 0:
            return None
        if len(self._buckets) > 10_000:  # forget members whose window has passed
            self._buckets = {k: v for k, v in self._buckets.items() if v.get_tokens() < self.rate}
        bucket = self._buckets.setdefault(user_id, app_commands.Cooldown(self.rate, self.per))
        return bucket.update_rate_limit()

    def first_refusal(self, user_id: int, retry_after: float) -> bool:
        """Whether a member refused with ``retry_after`` seconds to wait is refused for the first time in this
        wait (and should be told), rather than asking again before it is over."""
        now = time.monotonic()
        if self._told_until.get(user_id, 0.0) > now:
            return False
        if len(self._told_until) > 10_000:
            self._told_until = {k: v for k, v in self._told_until.items() if v > now}
        self._told_until[user_id] = now + retry_after
        return True
