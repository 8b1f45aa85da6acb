"""The bridge between Discord handlers and the index: searches and reloads run off the event loop."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from index import (
    Answer,
    ArticleIndex,
    ArticleIndexError,
    IndexStoreError,
    UpdateReport,
    load_saved_index,
    open_index,
    refresh_from_folder,
)
from index.batching import QuestionBatcher
from index.collection import validate_question
from index.embedding import Embedder
from index.store import current_version

logger = logging.getLogger(__name__)

# How long a question may wait for room in the encoding queue before it is refused as "too many at once".
QUEUE_WAIT_SECONDS = 30.0
# What a read-only process says when the saved index cannot serve: only the operator can build one.
BUILD_ADVICE = (
    "Build it with `article-bot index build` (with `--server <id>` for a server's own collection; the same "
    "INDEX_DIR and embedding settings); "
    "processes with INDEX_READ_ONLY load it when they start or on /reload."
)


def load_shared_index(index: ArticleIndex, index_dir: Path) -> UpdateReport:
    """The saved index, loaded as it is (INDEX_READ_ONLY), or an error that says how to make one."""
    try:
        return load_saved_index(index, index_dir)
    except IndexStoreError as error:
        raise type(error)(f"{error} {BUILD_ADVICE}") from None


class ReadOnlyIndex(ArticleIndexError):
    """A change to the articles was asked of a process that only serves a saved index (INDEX_READ_ONLY)."""


class QuestionEncoder:
    """Encodes questions with the embedding model, those arriving together in one batch (QuestionBatcher), and
    has each one searched by an encoding worker as soon as its vector is ready.

    Collections that share the model share one encoder, so questions to any of them are batched together."""

    def __init__(self, load_embedder: Callable[[], Embedder]) -> None:
        self._load_embedder = load_embedder
        self._batcher: QuestionBatcher | None = None

    async def answer(self, question: str, search: Callable[[np.ndarray], Answer]) -> Answer:
        """``search(vector)`` with the question's vector, run by an encoding worker (QuestionBatcher.answer)."""
        if self._batcher is None:
            embedder = await asyncio.to_thread(self._load_embedder)  # loads the model off the loop
            # Interactions are deferred after QUICK_REPLY_SECONDS and can be answered for 15 minutes, so in a
            # burst a question waits for room rather than being refused at once.
            self._batcher = self._batcher or QuestionBatcher(embedder, full_timeout=QUEUE_WAIT_SECONDS)
        return await self._batcher.answer(question, search)

    async def close(self) -> None:
        if self._batcher is not None:
            await self._batcher.aclose()


class QuestionService:
    """Answers questions and reloads the index without ever blocking the event loop.

    A reload builds a new index snapshot in a worker thread while questions keep being answered from the
    current one; the new snapshot is swapped in at once when complete, and a failed reload changes nothing.
    Reloads asked for while one runs share its result.

    ``encoder``: one shared with other services (and closed by its owner); by default the service makes its own.
    ``allow_empty``: an articles folder with no articles makes an empty index instead of a failed reload (for
    folders only the bot fills, like a server's).
    ``read_only``: the index folder is shared by several processes and built by the operator, so this one
    only ever loads the saved index (at start and on reload) and never builds, repairs or writes it."""

    def __init__(
        self,
        index: ArticleIndex,
        articles_dir: Path,
        index_dir: Path,
        top_k: int,
        encoder: QuestionEncoder | None = None,
        allow_empty: bool = False,
        read_only: bool = False,
    ) -> None:
        self.index = index
        self.articles_dir = articles_dir
        self.index_dir = index_dir
        self.top_k = top_k
        self.allow_empty = allow_empty
        self.read_only = read_only
        self._reload: asyncio.Task[UpdateReport] | None = None
        self._reload_allows_empty = False  # whether the running reload accepts an empty folder
        # read-only: the saved version last loaded (or found unusable), to notice when the operator saves another
        self._seen_version: Path | None = None
        self._owns_encoder = encoder is None
        self.encoder = encoder or QuestionEncoder(lambda: self.index.embedder)

    async def open(self) -> None:
        """Load the saved index (building or repairing it from the articles folder as needed, unless read-only)."""
        if self.read_only:
            try:
                report: UpdateReport | None = await asyncio.to_thread(self._load_shared)
            except IndexStoreError as error:
                logger.error("%s Until then the bot has no articles to quote.", error)
                report = None
        else:
            report = await asyncio.to_thread(open_index, self.index, self.articles_dir, self.index_dir, self.allow_empty)
        if report is not None:
            logger.info(
                "Index ready%s: %d articles, %d passages", " (read-only)" if self.read_only else "", report.articles, report.passages
            )
        try:
            await asyncio.to_thread(lambda: self.index.embedder)  # the model now, not on the first question
        except Exception:
            logger.warning("Could not load the embedding model; questions will fail until it loads", exc_info=True)

    async def ask(self, question: str, article: str | None = None, top_k: int | None = None) -> Answer:
        """Questions arriving together are encoded in one batch, and each one searched as soon as its vector is ready."""
        cleaned = validate_question(question)
        top_k = top_k or self.top_k
        return await self.encoder.answer(cleaned, lambda vector: self.index.search(cleaned, top_k, article, vector))

    async def reload(self, allow_empty: bool = False) -> UpdateReport:
        """Re-read the articles folder (read-only: the saved index); concurrent callers share one reload.

        ``allow_empty``: an empty folder empties the collection even if this service would otherwise refuse
        one (a moderator removed its last article: the folder is not missing, it was emptied on purpose)."""
        allow_empty = allow_empty or self.allow_empty
        while self._reload is not None and not self._reload.done():
            if self._reload_allows_empty or not allow_empty:
                return await asyncio.shield(self._reload)
            # The running one would refuse the empty folder this caller expects: let it end, then read again.
            await asyncio.gather(asyncio.shield(self._reload), return_exceptions=True)
        if self.read_only:
            work = asyncio.to_thread(self._load_shared)
        else:
            work = asyncio.to_thread(refresh_from_folder, self.index, self.articles_dir, self.index_dir, allow_empty)
        self._reload = asyncio.create_task(work, name="index-reload")
        self._reload_allows_empty = allow_empty
        return await asyncio.shield(self._reload)

    def _load_shared(self) -> UpdateReport:
        # The version is read before loading: should a newer one land meanwhile, the next check loads it again.
        self._seen_version = self._saved_version()
        return load_shared_index(self.index, self.index_dir)

    def _saved_version(self) -> Path | None:
        try:
            return current_version(self.index_dir)
        except IndexStoreError:
            return None  # damaged: loading it says how

    async def reload_if_saved_again(self) -> UpdateReport | None:
        """Read-only: load the saved index if the operator has saved a new version since the last load (None
        if not, or if the new one is unusable: that is logged, and the index serving stays)."""
        if not self.read_only:
            return None
        version = await asyncio.to_thread(self._saved_version)
        if version is None or version == self._seen_version:
            return None
        try:
            return await self.reload()
        except IndexStoreError as error:
            self._seen_version = version  # not tried again until the operator saves another
            logger.warning("A new index was saved in %s but could not be loaded: %s", self.index_dir, error)
            return None

    def check_writable(self) -> None:
        """Refuse changes to the articles in a process that only serves a saved index."""
        if self.read_only:
            raise ReadOnlyIndex(
                "Articles can't be added or removed here: this bot serves an index shared by several processes. "
                "Ask the bot's operator to change the articles folder and run `article-bot index build` "
                "(with `--server <id>` for this server's articles); "
                "then /reload picks up the new index."
            )

    async def reload_after_change(self, allow_empty: bool = False) -> UpdateReport:
        """Reload so that a change just made to the folder is seen: a rebuild already running may have
        read the folder before the change, so wait for it and start (or join) a newer one.
        ``allow_empty``: as for reload (the change removed an article, maybe the last)."""
        if self._reload is not None and not self._reload.done():
            await asyncio.gather(asyncio.shield(self._reload), return_exceptions=True)
        return await self.reload(allow_empty)

    async def close(self) -> None:
        if self._reload is not None and not self._reload.done():
            # The worker thread cannot be interrupted; let it finish so the index on disk stays whole.
            await asyncio.gather(self._reload, return_exceptions=True)
        if self._owns_encoder:
            await self.encoder.close()
