"""Collections per server: which articles and index answer in a server, and in direct messages.

With SERVER_COLLECTIONS off, one collection (ARTICLES_DIR and INDEX_DIR) serves everything, as it always has.
With it on, each server gets its own collection under SERVER_COLLECTIONS_DIR, keyed by the server's id:

    SERVER_COLLECTIONS_DIR/<server id>/articles/   what its moderators added with /article add
    SERVER_COLLECTIONS_DIR/<server id>/index/      its saved index

and the default collection serves direct messages. Cogs ask the registry for the collection of an
interaction's or message's server and never look at the setting themselves, so a server can only ever
reach its own articles. All collections share the one embedding model and the one question batcher.

At most SERVER_COLLECTIONS_OPEN server collections stay open: opening one more closes the least recently
used, and a server the bot leaves has its collection closed. Their folders stay on disk, so a closed
collection reopens from its saved index on its next use."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from index import Answer, ArticleIndex, ArticleIndexError

from .service import QuestionEncoder, QuestionService
from .settings import Settings

logger = logging.getLogger(__name__)

ARTICLES_FOLDER = "articles"
INDEX_FOLDER = "index"
_NO_ARTICLES_YET = "This server has no articles yet, so I have nothing to quote."
NO_SERVER_ARTICLES = f"{_NO_ARTICLES_YET} Moderators can add some with `/article add`."
# INDEX_READ_ONLY: /article add is refused, as only the operator builds the index.
NO_SERVER_ARTICLES_READ_ONLY = f"{_NO_ARTICLES_YET} The bot's operator builds its index; ask them to add articles."
# How a server's folders are shown to its moderators: never the server's absolute paths.
SERVERS_DIR_SHOWN = "SERVER_COLLECTIONS_DIR"


class NoArticlesYet(ArticleIndexError):
    """A question in a server whose collection has no articles yet (the message says what to do)."""


@dataclass(frozen=True, slots=True)
class CollectionFolders:
    articles_dir: Path
    index_dir: Path


def server_folders(servers_dir: Path, guild_id: int) -> CollectionFolders:
    """A server's articles and index folders. The id is a number, so the path cannot leave ``servers_dir``."""
    folder = servers_dir / str(int(guild_id))
    return CollectionFolders(folder / ARTICLES_FOLDER, folder / INDEX_FOLDER)


@dataclass(frozen=True, slots=True)
class Collection:
    """One set of articles with its index."""

    guild_id: int | None  # the server it belongs to; None for the default collection
    service: QuestionService

    @property
    def index(self) -> ArticleIndex:
        return self.service.index

    @property
    def articles_dir(self) -> Path:
        return self.service.articles_dir

    @property
    def index_dir(self) -> Path:
        return self.service.index_dir

    @property
    def name(self) -> str:
        """For the log."""
        return "the default collection" if self.guild_id is None else f"server {self.guild_id}'s collection"

    @property
    def has_no_articles_yet(self) -> bool:
        """A server's collection with nothing in it, where a member is told how articles get added."""
        return self.guild_id is not None and self.index.is_empty

    @property
    def no_articles_text(self) -> str | None:
        """What members are told while a server's collection is empty: who can add articles (None for the
        default collection, which says nothing about servers)."""
        if self.guild_id is None:
            return None
        return NO_SERVER_ARTICLES_READ_ONLY if self.service.read_only else NO_SERVER_ARTICLES

    async def ask(self, question: str, article: str | None = None) -> Answer:
        if self.has_no_articles_yet:
            raise NoArticlesYet(self.no_articles_text)
        return await self.service.ask(question, article)


class CollectionRegistry:
    """Maps a server id (None for direct messages) to its Collection, opening a server's on first use.

    Opening happens off the event loop, once however many first uses arrive together; a failed opening is
    tried again on the next use. The model is loaded once (by the default collection's index) and handed
    to every server's index, and one QuestionEncoder batches every collection's questions."""

    def __init__(self, settings: Settings, default_index: ArticleIndex) -> None:
        self.settings = settings
        self.per_server = settings.server_collections
        self.servers_dir = settings.servers_dir()
        self._default_index = default_index
        self.encoder = QuestionEncoder(lambda: default_index.embedder)
        service = QuestionService(
            default_index, settings.articles_dir, settings.index_dir, settings.top_k, encoder=self.encoder,
            read_only=settings.index_read_only,
        )
        # With collections per server the default one serves direct messages only.
        self.default = Collection(None, service)
        self.max_open = settings.server_collections_open
        self._servers: OrderedDict[int, Collection] = OrderedDict()  # least recently used first
        self._opening: dict[int, asyncio.Task[Collection]] = {}
        self._closing: dict[int, asyncio.Task[None]] = {}  # by server id

    async def get(self, guild_id: int | None) -> Collection:
        """The collection that answers in this server (None: in direct messages), opened if need be."""
        if guild_id is None or not self.per_server:
            return self.default
        collection = self._servers.get(guild_id)
        if collection is not None:
            self._servers.move_to_end(guild_id)
            return collection
        opening = self._opening.get(guild_id)
        if opening is None:
            opening = asyncio.create_task(self._open_server(guild_id), name=f"open-collection-{guild_id}")
            self._opening[guild_id] = opening
            opening.add_done_callback(lambda task: self._opened(guild_id, task))
        # Shielded: a caller that gives up (an autocomplete out of time) does not stop the opening for others.
        return await asyncio.shield(opening)

    async def get_within(self, guild_id: int | None, seconds: float) -> Collection | None:
        """The collection if it is (or gets) open within ``seconds``, else None; it goes on opening meanwhile."""
        try:
            return await asyncio.wait_for(self.get(guild_id), seconds)
        except TimeoutError:
            return None

    def _opened(self, guild_id: int, task: asyncio.Task[Collection]) -> None:
        self._opening.pop(guild_id, None)
        if not task.cancelled() and task.exception() is not None:  # retrieved here, so callers gone are no matter
            logger.warning("Could not open server %s's collection (tried again on next use): %s", guild_id, task.exception())

    async def _open_server(self, guild_id: int) -> Collection:
        closing = self._closing.get(guild_id)
        if closing is not None:  # closed a moment ago: let its last reload finish writing the index first
            await asyncio.gather(closing, return_exceptions=True)
        folders = server_folders(self.servers_dir, guild_id)
        embedder = await asyncio.to_thread(lambda: self._default_index.embedder)  # the one model, loaded once
        if not self.settings.index_read_only:  # (read-only: the folders may well be on a read-only mount)
            await asyncio.to_thread(folders.articles_dir.mkdir, parents=True, exist_ok=True)
        # The default index's settings (min score, weights, quote limit), with the model already loaded.
        index = dataclasses.replace(self._default_index, embedder_source=embedder)
        service = QuestionService(
            index, folders.articles_dir, folders.index_dir, self.settings.top_k, encoder=self.encoder, allow_empty=True,
            read_only=self.settings.index_read_only,
        )
        await service.open()
        collection = Collection(guild_id, service)
        self._servers[guild_id] = collection
        logger.info("Opened %s: %d articles", collection.name, len(index.articles()))
        while len(self._servers) > self.max_open:
            _, least_used = self._servers.popitem(last=False)
            self._close_later(least_used, "it was the least recently used of more than SERVER_COLLECTIONS_OPEN")
        return collection

    def _close_later(self, collection: Collection, reason: str) -> None:
        """Close a collection already out of the registry without making the caller wait for a reload it
        may be running; questions it is answering finish from the index they hold."""
        logger.info("Closing %s: %s", collection.name, reason)
        assert collection.guild_id is not None
        guild_id = collection.guild_id
        task = asyncio.create_task(collection.service.close(), name=f"close-collection-{guild_id}")
        self._closing[guild_id] = task
        task.add_done_callback(lambda _: self._closing.pop(guild_id, None) if self._closing.get(guild_id) is task else None)

    def release(self, guild_id: int) -> bool:
        """Close a server's collection (the bot left the server); its folders stay, should the bot come back.
        False if it was not open."""
        collection = self._servers.pop(guild_id, None)
        if collection is None:
            return False
        self._close_later(collection, "the bot left that server")
        return True

    def opened(self) -> list[Collection]:
        """Every collection open now, the default one first."""
        return [self.default, *self._servers.values()]

    def owner_of(self, path: Path) -> Collection | None:
        """The open collection whose articles folder holds ``path`` (a server's index folder belongs to none)."""
        path = path.resolve()
        if path.is_relative_to(self.settings.articles_dir.resolve()):
            return self.default
        if not self.per_server or not path.is_relative_to(self.servers_dir.resolve()):
            return None
        parts = path.relative_to(self.servers_dir.resolve()).parts
        if len(parts) < 3 or not parts[0].isdigit() or parts[1] != ARTICLES_FOLDER:
            return None
        return self._servers.get(int(parts[0]))  # one not open yet reads its folder when it opens

    def shown_to_moderators(self, text: str) -> str:
        """``text`` (an error's message) with the servers' folder shown as SERVER_COLLECTIONS_DIR: a server's
        moderators are told which of its folders, not where the bot's operator keeps them."""
        if not self.per_server:
            return text
        # A server's paths go on with its id; the folder is matched as a whole path, not inside another.
        folders = sorted({str(self.servers_dir.resolve()), str(self.servers_dir)}, key=len, reverse=True)
        pattern = r"(?<![\w./-])(?:" + "|".join(map(re.escape, folders)) + r")(?=[/\\])"
        return re.sub(pattern, SERVERS_DIR_SHOWN, text)

    def watched_folders(self) -> list[Path]:
        """The folders watch mode watches: the default articles folder, and every server's when per server."""
        return [self.settings.articles_dir, self.servers_dir] if self.per_server else [self.settings.articles_dir]

    async def follow_shared_index(self, seconds: float) -> None:
        """INDEX_READ_ONLY: every ``seconds``, load the saved index of each open collection that the operator
        has saved again, so every process sharing the folder picks up a build without a /reload."""
        while True:
            await asyncio.sleep(seconds)
            for collection in self.opened():
                try:
                    report = await collection.service.reload_if_saved_again()
                except Exception:  # noqa: BLE001 - one collection's trouble must not stop the others' checks
                    logger.exception("Checking %s's saved index failed", collection.name)
                    continue
                if report is not None:
                    logger.info(
                        "Loaded the index saved again for %s: %d articles, %d passages",
                        collection.name, report.articles, report.passages,
                    )

    async def close(self) -> None:
        """Close every collection, after any still opening (their worker threads cannot be interrupted)."""
        await asyncio.gather(*self._opening.values(), return_exceptions=True)
        for collection in self.opened():
            await collection.service.close()
        await asyncio.gather(*self._closing.values(), return_exceptions=True)
        await self.encoder.close()
