"""Encoding questions that arrive together in one call, off the event loop (pure asyncio; no Discord here).

    batcher = QuestionBatcher(index.embedder)
    vector = await batcher.submit("Who claimed that a truce deal was close?")
    answer = await batcher.answer(question, lambda vector: index.search(question, question_vector=vector))
    ...
    await batcher.aclose()

Questions waiting together (and those arriving within ``window`` seconds of the first, up to ``max_batch``)
are encoded by one call in a worker thread; each caller gets its own row. While a batch is being encoded,
the next questions gather, so under load batches fill up by themselves. The window is therefore 0 by
default: a lone question is encoded at once (a 2 ms window had doubled a lone int8 question's wait), and
32 questions arriving together still go in one call (bench/speed.py).
``answer`` also runs the caller's follow-up (its search) on the vector in an encoding worker, as soon as the
vector is ready: with the ONNX encoder (OnnxEmbedder.encode_each), one worker at a time runs the follow-ups
that are ready while the others encode the next questions, in groups run together; and each caller is
answered when its own follow-up is done, not when the whole batch is. 32 int8 answers that arrive together
take about half as long as one by one (a thread each), and no question's vector depends on the others
(bench/speed.py).
At most ``max_pending`` questions wait at once: beyond that a caller waits for room (back-pressure), and
if there is still none after ``full_timeout`` seconds it gets ``BatcherFull``."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from .errors import ArticleIndexError

logger = logging.getLogger(__name__)

DEFAULT_WINDOW = 0.0
DEFAULT_MAX_BATCH = 32
DEFAULT_MAX_PENDING = 256
DEFAULT_FULL_TIMEOUT = 2.0


class Encoder(Protocol):
    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class BatcherFull(ArticleIndexError):
    """Too many questions are waiting to be encoded; the caller should ask again later (message fit for a user)."""


class BatcherClosed(ArticleIndexError):
    """The batcher was closed (the bot is shutting down); it takes no more questions."""


@dataclass(slots=True)
class _Pending:
    text: str
    future: asyncio.Future[Any]
    then: Callable[[np.ndarray], Any] | None = None  # the caller's follow-up, run on the vector in the worker


_STOP = object()
T = TypeVar("T")


def _own_copy(vector: np.ndarray) -> np.ndarray:
    return np.array(vector, dtype=np.float32, copy=True)


def _settle(future: asyncio.Future[Any], outcome: Any, error: BaseException | None) -> None:
    if future.done():  # the caller gave up, or the batch failed meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(outcome)


def encode_each(encoder: Encoder, texts: Sequence[str], then: Callable[[int, np.ndarray], None]) -> None:
    """``then(position, vector)`` for each text: as each vector is ready where the encoder can say
    (OnnxEmbedder.encode_each, whose workers then also run the follow-ups), else after one encode call."""
    each = getattr(encoder, "encode_each", None)
    if each is not None:
        each(texts, then)
        return
    for position, vector in enumerate(encoder.encode(texts)):
        then(position, vector)


class QuestionBatcher:
    def __init__(
        self,
        embedder: Encoder,
        *,
        window: float = DEFAULT_WINDOW,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_pending: int = DEFAULT_MAX_PENDING,
        full_timeout: float | None = DEFAULT_FULL_TIMEOUT,
    ) -> None:
        if max_batch < 1 or max_pending < 1 or window < 0:
            raise ValueError("max_batch and max_pending must be at least 1 and window not negative")
        self.embedder = embedder
        self.window = window
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.full_timeout = full_timeout
        self.batches = 0  # encode calls made (for tests and the benchmark)
        self._queue: asyncio.Queue[_Pending | object] | None = None
        self._room: asyncio.Semaphore | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _start(self) -> None:
        # Created on first use, inside the running loop they belong to.
        self._queue = asyncio.Queue()
        self._room = asyncio.Semaphore(self.max_pending)
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="question-batcher")

    async def submit(self, text: str) -> np.ndarray:
        """The question's vector (unit length, float32). Raises BatcherFull or BatcherClosed."""
        return await self._enqueue(text, None)

    async def answer(self, text: str, then: Callable[[np.ndarray], T]) -> T:
        """``then(vector)`` of the question's vector, run in an encoding worker once the vector is ready (a
        search: with several workers it runs while the batch's other questions encode, instead of waiting for
        the whole batch and then for a thread of its own). Raises what ``then`` raises, BatcherFull or
        BatcherClosed. ``then`` must not encode."""
        return await self._enqueue(text, then)

    async def _enqueue(self, text: str, then: Callable[[np.ndarray], Any] | None) -> Any:
        if self._closed:
            raise BatcherClosed("The bot is shutting down; please ask again in a moment.")
        if self._worker is None:
            self._start()
        assert self._queue is not None and self._room is not None
        if self._room.locked():  # full: wait for room, but not for ever
            try:
                async with asyncio.timeout(self.full_timeout):
                    await self._room.acquire()
            except TimeoutError:
                raise BatcherFull(
                    f"Too many questions at once ({self.max_pending} are already waiting); please try again in a moment."
                ) from None
        else:
            await self._room.acquire()
        if self._closed:  # closed while we waited for room
            self._room.release()
            raise BatcherClosed("The bot is shutting down; please ask again in a moment.")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(text, future, then))
        return await future

    async def _collect(self, first: _Pending) -> tuple[list[_Pending], bool]:
        """The first question plus those arriving within the window; True if the stop mark was met."""
        assert self._queue is not None
        batch = [first]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    async with asyncio.timeout(remaining):
                        item = await self._queue.get()
                except TimeoutError:
                    break
            if item is _STOP:
                return batch, True
            batch.append(item)  # type: ignore[arg-type]
        return batch, False

    async def _run(self) -> None:
        assert self._queue is not None and self._room is not None
        stopping = False
        while not stopping:
            item = await self._queue.get()
            if item is _STOP:
                break
            batch, stopping = await self._collect(item)  # type: ignore[arg-type]
            live = [pending for pending in batch if not pending.future.done()]  # callers may have given up
            try:
                if live:
                    await asyncio.to_thread(encode_each, self.embedder, [p.text for p in live], self._finisher(live))
                    self.batches += 1
            except asyncio.CancelledError:
                for pending in live:
                    if not pending.future.done():
                        pending.future.cancel()
                raise
            except Exception as error:  # noqa: BLE001 - every waiting caller gets the error, the worker goes on
                logger.exception("Encoding a batch of %d questions failed", len(live))
                for pending in live:
                    if not pending.future.done():
                        pending.future.set_exception(error)
            finally:
                for _ in batch:
                    self._room.release()

    @staticmethod
    def _finisher(live: list[_Pending]) -> Callable[[int, np.ndarray], None]:
        """What to do with each question's vector, in an encoding worker: its follow-up, and the result
        (or the follow-up's error, for that caller alone) handed to the waiting caller at once."""
        loop = asyncio.get_running_loop()

        def finish(position: int, vector: np.ndarray) -> None:
            pending = live[position]
            try:
                outcome, error = (pending.then or _own_copy)(vector), None
            except Exception as caught:  # noqa: BLE001 - the caller's own follow-up failed: the caller gets it
                outcome, error = None, caught
            loop.call_soon_threadsafe(_settle, pending.future, outcome, error)

        return finish

    async def aclose(self) -> None:
        """Take no more questions, answer those already waiting, then stop the worker. Idempotent."""
        self._closed = True
        if self._worker is None or self._worker.done():
            return
        assert self._queue is not None
        self._queue.put_nowait(_STOP)
        await asyncio.shield(self._worker)
