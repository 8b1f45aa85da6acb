"""The keyword side of hybrid search: BM25 with English stemming and stop words (bm25s)."""
from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


# bm25s.tokenize's default token pattern: words of two or more word characters.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


@functools.cache
def _english_stopwords() -> frozenset[str]:
    """The stop words bm25s.tokenize drops for stopwords="en"."""
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


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
        """The question's terms, made as ``terms`` makes them (lower case, bm25s's token pattern, its English
        stop words, stemmed) but without bm25s.tokenize's per-call set-up, which cost more than the BM25
        scoring itself: every search tokenizes its question."""
        stopwords = _english_stopwords()
        words = [word for word in _TOKEN.findall(question.lower()) if word not in stopwords]
        return self._stemmer().stemWords(words) if words else []

    def scores(self, question_terms: Sequence[str]) -> np.ndarray:
        """BM25 of every text for the question's terms (``query_terms``)."""
        if self.size == 0:
            return np.zeros(0, dtype=np.float32)
        if not question_terms:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(list(question_terms)), dtype=np.float32)

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
