"""The keyword side of hybrid search: BM25 with English stemming and stop words (bm25s)."""
from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


def _import_bm25s():
    import bm25s

    # bm25s pins its logger to DEBUG on import; let it follow the application's logging level instead.
    logging.getLogger("bm25s").setLevel(logging.NOTSET)
    return bm25s


class KeywordIndex:
    """BM25 over a list of texts; ``scores`` gives one score per text, in the order they were indexed."""

    def __init__(self, retriever, size: int) -> None:
        self._retriever = retriever
        self.size = size

    @staticmethod
    @functools.cache
    def _stemmer():
        import Stemmer

        return Stemmer.Stemmer("english")

    @classmethod
    def build(cls, texts: Sequence[str]) -> KeywordIndex:
        bm25s = _import_bm25s()

        retriever = bm25s.BM25()
        if texts:
            tokens = bm25s.tokenize(list(texts), stopwords="en", stemmer=cls._stemmer(), show_progress=False)
            retriever.index(tokens, show_progress=False)
        return cls(retriever, len(texts))

    def terms(self, texts: Sequence[str]) -> list[list[str]]:
        """The stemmed, stop-word-free terms of each text."""
        bm25s = _import_bm25s()

        if not texts:
            return []
        return bm25s.tokenize(list(texts), stopwords="en", stemmer=self._stemmer(), return_ids=False, show_progress=False)

    def query_terms(self, question: str) -> list[str]:
        return self.terms([question])[0]

    def scores(self, question: str) -> np.ndarray:
        if self.size == 0:
            return np.zeros(0, dtype=np.float32)
        terms = self.query_terms(question)
        if not terms:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(terms), dtype=np.float32)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self.size:
            self._retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> KeywordIndex:
        bm25s = _import_bm25s()

        if size == 0:
            return cls(bm25s.BM25(), 0)
        retriever = bm25s.BM25.load(str(folder), mmap=False, show_progress=False)
        return cls(retriever, size)
