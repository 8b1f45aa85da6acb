"""Watch mode: reload by itself when files in the articles folder change."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from index import ArticleIndexError

from .service import QuestionService

logger = logging.getLogger(__name__)


async def watch_articles(service: QuestionService, folder: Path, debounce_ms: int = 1500) -> None:
    """Reload after changes settle for ``debounce_ms``; runs until cancelled."""
    from watchfiles import awatch

    folder.mkdir(parents=True, exist_ok=True)
    logger.info("Watching %s for article changes", folder)
    async for changes in awatch(folder, debounce=debounce_ms, step=100, recursive=True):
        names = sorted({Path(path).name for _, path in changes if not Path(path).name.startswith(".")})
        if not names:
            continue  # our own temporary files
        try:
            report = await service.reload_after_change()
        except ArticleIndexError as error:
            logger.warning("Automatic reload after changes to %s failed; the previous index keeps serving: %s", ", ".join(names), error)
        except Exception:
            logger.exception("Automatic reload failed; the previous index keeps serving")
        else:
            if report.changed:
                logger.info("Reloaded after changes to %s: %s", ", ".join(names), report)


def start_watching(service: QuestionService, folder: Path) -> asyncio.Task[None]:
    return asyncio.create_task(watch_articles(service, folder), name="article-watch")
