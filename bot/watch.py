"""Watch mode: reload by itself when files in an articles folder change (each server's too, when per server)."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from index import ArticleIndexError

from .collections import Collection, CollectionRegistry

logger = logging.getLogger(__name__)


async def reload_changed(collection: Collection, names: list[str]) -> None:
    """Reload one collection after changes to the named files; a failure keeps its previous index serving."""
    try:
        report = await collection.service.reload_after_change()
    except ArticleIndexError as error:
        logger.warning(
            "Automatic reload of %s after changes to %s failed; the previous index keeps serving: %s",
            collection.name, ", ".join(names), error,
        )
    except Exception:
        logger.exception("Automatic reload of %s failed; the previous index keeps serving", collection.name)
    else:
        if report.changed:
            logger.info("Reloaded %s after changes to %s: %s", collection.name, ", ".join(names), report)


async def watch_articles(collections: CollectionRegistry, debounce_ms: int = 1500, retry_seconds: float = 2.0) -> None:
    """Reload the collections whose articles changed, after changes settle for ``debounce_ms``; runs until cancelled.

    A watched folder that is removed (a deploy replacing it, say) is watched again once it is back: the
    system's watch on it went with it. A watch that fails is started again ``retry_seconds`` later."""
    folders = collections.watched_folders()
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    logger.info("Watching %s for article changes", ", ".join(map(str, folders)))
    while True:
        try:
            await _watch_until_a_folder_goes(collections, folders, debounce_ms)
        except Exception:  # noqa: BLE001 - watching must not stop for good while the bot runs
            logger.warning("Watching for article changes failed; starting again in %.0f s", retry_seconds, exc_info=True)
        while not all(folder.is_dir() for folder in folders):
            await asyncio.sleep(retry_seconds)
        logger.info("Watching %s for article changes again", ", ".join(map(str, folders)))
        # what changed while nothing watched
        await asyncio.gather(*(reload_changed(collection, ["the replaced folder"]) for collection in collections.opened()))


async def _watch_until_a_folder_goes(collections: CollectionRegistry, folders: list[Path], debounce_ms: int) -> None:
    from watchfiles import awatch

    async for changes in awatch(*folders, debounce=debounce_ms, step=100, recursive=True):
        changed: dict[int | None, tuple[Collection, set[str]]] = {}
        for _, path in changes:
            name = Path(path).name
            if name.startswith("."):
                continue  # our own temporary files
            # Only articles folders count: saving a server's index must not set off another reload.
            collection = collections.owner_of(Path(path))
            if collection is not None:
                changed.setdefault(collection.guild_id, (collection, set()))[1].add(name)
        # One collection's slow rebuild must not hold up another's.
        await asyncio.gather(*(reload_changed(collection, sorted(names)) for collection, names in changed.values()))
        gone = [folder for folder in folders if not folder.is_dir()]
        if gone:
            logger.warning("%s was removed; watching again once it is back", ", ".join(map(str, gone)))
            return


def start_watching(collections: CollectionRegistry) -> asyncio.Task[None]:
    return asyncio.create_task(watch_articles(collections), name="article-watch")
