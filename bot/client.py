"""ArticleBot: the discord.py Bot subclass that owns the index service and the commands."""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Iterator

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from index import ArticleIndex, ArticleIndexError, ArticlesFolderError

from .checks import AskingTooFast, MemberCooldowns, NotModerator
from .collections import CollectionRegistry
from .formatting import NO_PINGS, error_embed, slow_down_text
from .questionlog import BackgroundQuestionLog, QuestionLog
from .service import QuestionService
from .settings import Settings
from .watch import start_watching

logger = logging.getLogger(__name__)

# How long a shutdown waits for answers under way (a service manager's stop timeout is usually longer).
SHUTDOWN_GRACE_SECONDS = 10.0


def point_discord_at(settings: Settings) -> None:
    """Use the configured REST and gateway URLs (Discord's by default; a proxy's or a test server's otherwise)."""
    discord.http.Route.BASE = settings.discord_api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


class ArticleBot(commands.Bot):
    """Answers questions by quoting articles. The index and settings are passed in, so tests can supply their own.

    With SHARD_COUNT set, the bot (or a subclass) is made on discord.py's sharded client instead, which runs
    one gateway connection per shard in SHARD_IDS; everything else is the same."""

    def __new__(cls, settings: Settings, *args, **kwargs) -> ArticleBot:
        # discord.py shards by base class; choosing it here keeps ArticleBot(settings), and subclasses, right.
        if settings.shard_count is not None:
            cls = sharded_variant(cls)
        return super().__new__(cls)

    def __init__(
        self, settings: Settings, index: ArticleIndex | None = None, question_log: QuestionLog | None = None, **options
    ) -> None:
        point_discord_at(settings)
        if settings.shard_count is not None:
            options.update(shard_count=settings.shard_count, shard_ids=settings.shards_to_run())
        # Default intents: message content still arrives for DMs and for messages that mention the bot.
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            allowed_mentions=NO_PINGS,
            help_command=None,
            **options,
        )
        self.settings = settings
        logger.info("Gateway: %s", shards_text(settings))
        index = index or ArticleIndex(settings.embedder_spec(), min_score=settings.min_score)
        # The articles each server (and direct messages) are answered from; see bot/collections.py.
        self.collections = CollectionRegistry(settings, index)
        self.cooldowns = MemberCooldowns(settings.cooldown_questions, settings.cooldown_seconds)
        # Questions and feedback votes, written off the event loop (opened in setup_hook, closed in close).
        self.question_log = BackgroundQuestionLog(
            question_log or QuestionLog(settings.data_dir, retention_days=settings.question_log_retention_days)
        )
        self._watcher: asyncio.Task[None] | None = None
        self._index_follower: asyncio.Task[None] | None = None
        self._answering: set[asyncio.Task] = set()  # questions being answered, which close() lets finish
        self.tree.on_error = self.on_app_command_error

    async def setup_hook(self) -> None:
        try:
            await self.service.open()
        except ArticlesFolderError as error:
            logger.error("%s The bot starts with no articles; add some and use /reload.", error)
        await self.question_log.open()  # on failure, logs a warning: answers go on without the log
        from .cogs.ask import AskCog
        from .cogs.moderation import ModerationCog
        from .cogs.sources import SourcesCog
        from .cogs.stats import StatsCog

        for cog in (AskCog(self), SourcesCog(self), ModerationCog(self), StatsCog(self)):
            await self.add_cog(cog)
        if self.settings.moderator_role_ids or self.settings.moderator_user_ids:
            show_moderator_commands_to_everyone(self.tree)
        await self._sync_commands()
        if self.settings.watch_articles:
            self._watcher = start_watching(self.collections)
        if self.settings.index_read_only and self.settings.index_check_seconds > 0:
            self._index_follower = asyncio.create_task(
                self.collections.follow_shared_index(self.settings.index_check_seconds), name="follow-shared-index"
            )

    async def _sync_commands(self) -> None:
        shards = self.settings.shards_to_run()
        if shards is not None and 0 not in shards:
            # Every process of a sharded bot has the same commands: one sync, by shard 0's process, is enough.
            logger.info("Commands are synced by the process that runs shard 0")
            return
        if not self.settings.guild_ids:
            synced = await self.tree.sync()
            logger.info("Synced %d global commands", len(synced))
            return
        for guild_id in self.settings.guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            try:
                synced = await self.tree.sync(guild=guild)
            except discord.HTTPException as error:  # one server's refusal must not keep the bot from the others
                logger.warning("Could not sync commands to server %s (%s): is the bot in it?", guild_id, error.text or error.status)
                continue
            logger.info("Synced %d commands to server %s", len(synced), guild_id)

    @property
    def service(self) -> QuestionService:
        """The default collection's service: direct messages, and everything when SERVER_COLLECTIONS is off."""
        return self.collections.default.service

    async def on_message(self, message: discord.Message) -> None:
        """No prefix commands: questions in messages are handled by the ask cog's listener."""

    async def on_ready(self) -> None:
        logger.info(
            "Connected as %s (%s) to %d servers (%s)",
            self.user,
            getattr(self.user, "id", "?"),
            len(self.guilds),
            shards_text(self.settings),
        )

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Removed from a server (or the server was deleted): its collection need not stay in memory."""
        self.collections.release(guild.id)

    def dispatch(self, event_name: str, /, *args, **kwargs) -> None:
        # discord.py clears its loop on close but still dispatches 'disconnect' afterwards, which would
        # leave un-awaited event coroutines behind; once closing, there is nobody left to handle events.
        if self.is_closed():
            return
        super().dispatch(event_name, *args, **kwargs)

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Marks the current task as answering a member, so that a shutdown lets it finish first."""
        task = asyncio.current_task()
        assert task is not None
        self._answering.add(task)
        try:
            yield
        finally:
            self._answering.discard(task)

    async def close(self) -> None:
        # Answers under way finish first (a stop or restart would leave "thinking…" on screen for good), for
        # a while: the connections they need are closed below.
        pending = [task for task in self._answering if task is not asyncio.current_task()]
        if pending and not self.is_closed():
            logger.info("Finishing %d answers before closing", len(pending))
            await asyncio.wait(pending, timeout=SHUTDOWN_GRACE_SECONDS)
        for task in (self._watcher, self._index_follower):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.collections.close()
        await self.question_log.close()
        await super().close()

    async def on_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """The one place that turns known errors into friendly private replies and logs the rest."""
        original = getattr(error, "original", error)
        if isinstance(original, AskingTooFast):
            message = slow_down_text(original.retry_after)
        elif isinstance(original, NotModerator):
            message = "Only moderators can use this command (Manage Server permission, or a moderator role set by the bot's operator)."
        elif isinstance(original, ArticleIndexError):
            message = self.collections.shown_to_moderators(str(original))  # no operator's folders shown in Discord
        elif isinstance(original, app_commands.TransformerError | app_commands.CheckFailure):
            message = "That command can't be used like that here."
        elif isinstance(original, discord.HTTPException) and original.code in (40060, 10062):
            # 40060: Discord already took a response whose reply was lost; 10062: the interaction expired.
            # Either way there is nothing left to reply to, and replying again would duplicate.
            logger.warning("Command %s could not respond (%s)", interaction.command and interaction.command.qualified_name, original.text)
            return
        else:
            logger.error("Command %s failed", interaction.command and interaction.command.qualified_name, exc_info=original)
            message = "Sorry, something went wrong. It has been logged for the bot's operator."
        await send_private(interaction, error_embed(message))


def show_moderator_commands_to_everyone(tree: app_commands.CommandTree) -> None:
    """Register the moderator commands without their default permission (Manage Server). Discord's clients
    offer a command with one only to members who hold it, until a server admin changes that in Integrations,
    so moderators by role or user id could not use them. The bot's own check still refuses everyone else."""
    for command in tree.walk_commands():
        if isinstance(command, app_commands.Command | app_commands.Group) and command.parent is None:
            command.default_permissions = None


@functools.cache
def sharded_variant(bot_class: type[ArticleBot]) -> type[ArticleBot]:
    """The same bot class on discord.py's AutoShardedBot (which takes shard_count and shard_ids)."""
    if issubclass(bot_class, commands.AutoShardedBot):
        return bot_class
    return type(f"Sharded{bot_class.__name__}", (bot_class, commands.AutoShardedBot), {"__module__": bot_class.__module__})


def shards_text(settings: Settings) -> str:
    """Which shards this process runs, for the log."""
    shards = settings.shards_to_run()
    if shards is None:
        return "one unsharded connection"
    return f"shard{'s' if len(shards) > 1 else ''} {', '.join(map(str, shards))} of {settings.shard_count}"


async def send_private(interaction: discord.Interaction, embed: discord.Embed) -> None:
    """Reply only the user sees: a new ephemeral reply, or the deferred "thinking…" replaced if only they see it
    (else removed, and the reply sent privately after it)."""
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)
        elif interaction.response.type != discord.InteractionResponseType.deferred_channel_message:
            await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)
        elif interaction.extras.get("private", True):
            await interaction.edit_original_response(embed=embed, allowed_mentions=NO_PINGS)
        else:
            # A public "thinking…" (an /ask for everyone) must not become an error meant for the asker alone.
            await interaction.delete_original_response()
            await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)
    except discord.HTTPException:
        logger.warning("Could not tell the user about an error (the interaction may have expired)", exc_info=True)
