"""The question batcher: questions arriving together share one encode call, off the event loop; each caller
gets its own vector, or its own follow-up's result; a full queue pushes back; closing answers who waits."""
from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from index.batching import BatcherClosed, BatcherFull, QuestionBatcher
from index.embedding import OnnxInt8Embedder

QUESTIONS = [
    "Who claimed that a truce deal was close?",
    "When did the militants launch the invasion of southern Israel?",
    "Which organizations have been engaged in mediation efforts?",
    "What will a significant breakthrough in negotiations require?",
]


async def test_concurrent_questions_each_get_their_own_vector(int8_embedder, sample_texts):
    questions = QUESTIONS + sample_texts[1][:28]  # 32 different texts
    alone = np.vstack([int8_embedder.encode([q]) for q in questions])
    batcher = QuestionBatcher(int8_embedder, window=0.01)
    try:
        vectors = await asyncio.gather(*(batcher.submit(q) for q in questions))
    finally:
        await batcher.aclose()
    assert batcher.batches < len(questions)  # they were batched
    for question, vector, expected in zip(questions, vectors, alone):
        assert vector.shape == (384,)
        assert np.array_equal(vector, expected), question  # the same as asked alone
    # and nobody got someone else's row
    assert [int(np.argmax(alone @ v)) for v in vectors] == list(range(len(questions)))


async def test_follow_ups_run_on_each_questions_own_vector_in_the_encoding_thread(onnx_cache, sample_texts):
    embedder = OnnxInt8Embedder(threads=2, cache_dir=onnx_cache)
    questions = QUESTIONS + sample_texts[1][:28]
    alone = np.vstack([embedder.encode([q]) for q in questions])
    batcher = QuestionBatcher(embedder, window=0.01)
    main_thread = threading.get_ident()

    def follow_up(question: str):
        return lambda vector: (question, vector.copy(), threading.get_ident())

    try:
        results = await asyncio.gather(*(batcher.answer(q, follow_up(q)) for q in questions))
    finally:
        await batcher.aclose()
    assert batcher.batches < len(questions)
    assert [question for question, _, _ in results] == questions
    for (question, vector, _), expected in zip(results, alone):
        assert np.array_equal(vector, expected), question
    threads = {thread for _, _, thread in results}
    assert main_thread not in threads and len(threads) >= 2  # both workers answered, off the event loop


async def test_a_failing_follow_up_reaches_its_own_caller_only():
    def search(vector):
        if vector[0] == 4.0:
            raise LookupError("No article called that")
        return f"answer {vector[0]:.0f}"

    batcher = QuestionBatcher(SlowEncoder(delay=0.01), window=0.01)  # an encoder without encode_each
    results = await asyncio.gather(*(batcher.answer(q, search) for q in ("abc", "abcd", "ab")), return_exceptions=True)
    assert results[0] == "answer 3" and results[2] == "answer 2"
    assert isinstance(results[1], LookupError)
    assert await batcher.answer("later", search) == "answer 5"
    await batcher.aclose()


class SlowEncoder:
    """Takes ``delay`` seconds per call, like a model on a busy machine; records the batches."""

    def __init__(self, delay: float = 0.2, gate: threading.Event | None = None) -> None:
        self.delay = delay
        self.gate = gate
        self.calls: list[list[str]] = []

    def encode(self, texts):
        if self.gate is not None:
            self.gate.wait(10)
        time.sleep(self.delay)
        self.calls.append(list(texts))
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


async def test_event_loop_is_never_blocked_while_encoding():
    encoder = SlowEncoder(delay=0.3)
    batcher = QuestionBatcher(encoder, window=0.005)
    lags = []

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - started - 0.005)

    stop = asyncio.Event()
    tick = asyncio.create_task(ticker(stop))
    vectors = await asyncio.gather(*(batcher.submit("q" * n) for n in range(1, 11)))
    stop.set()
    await tick
    await batcher.aclose()
    assert [float(v[0]) for v in vectors] == list(range(1, 11))
    assert len(encoder.calls) <= 2 and sum(map(len, encoder.calls)) == 10
    assert len(lags) > 20 and max(lags) < 0.1  # encoding took 0.3 s a batch; the loop kept ticking


async def test_full_queue_pushes_back_then_refuses():
    gate = threading.Event()
    batcher = QuestionBatcher(SlowEncoder(delay=0, gate=gate), window=0, max_batch=2, max_pending=3, full_timeout=0.05)
    waiting = [asyncio.create_task(batcher.submit(f"q{i}")) for i in range(3)]
    await asyncio.sleep(0.02)
    with pytest.raises(BatcherFull, match="already waiting"):
        await batcher.submit("one too many")
    gate.set()  # the encoder frees up: everyone waiting is answered
    assert [float(v[0]) for v in await asyncio.gather(*waiting)] == [2.0, 2.0, 2.0]
    assert float((await batcher.submit("again"))[0]) == 5.0
    await batcher.aclose()


async def test_close_answers_waiting_questions_then_refuses_new_ones():
    encoder = SlowEncoder(delay=0.05)
    batcher = QuestionBatcher(encoder, window=0.001, max_batch=2)
    waiting = [asyncio.create_task(batcher.submit("q" * n)) for n in range(1, 6)]
    await asyncio.sleep(0)
    await batcher.aclose()
    assert [float((await task)[0]) for task in waiting] == [1, 2, 3, 4, 5]
    with pytest.raises(BatcherClosed):
        await batcher.submit("late")
    await batcher.aclose()  # twice is fine


async def test_encoder_errors_reach_every_caller_and_the_batcher_goes_on():
    class Flaky(SlowEncoder):
        def encode(self, texts):
            if any("boom" in t for t in texts):
                raise RuntimeError("model exploded")
            return super().encode(texts)

    batcher = QuestionBatcher(Flaky(delay=0), window=0.01)
    results = await asyncio.gather(batcher.submit("boom"), batcher.submit("fine"), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert float((await batcher.submit("later"))[0]) == 5.0
    await batcher.aclose()
