"""The keyword side of hybrid search: BM25 over passages, with English stemming and stop words.

The scores are bm25s's default (method "lucene", k1 = 1.5, b = 0.75) to the last bit, but computed with numpy
from the term counts of the collection's tokenized form (tokens.py), so that an update does not tokenize every
passage again. Every entry of the score matrix depends on IDF and the average passage length, so the matrix is
made again on every update; from counts that takes milliseconds."""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np

from . import kernels
from .tokens import TokenizedCollection, offsets, question_terms, text_terms

logger = logging.getLogger(__name__)

K1 = 1.5
B = 0.75


class KeywordIndex:
    """BM25 over a list of documents (passages); ``scores`` gives one score per document, in order.

    Held as the score matrix's columns: for term id t, ``documents[pointer[t]:pointer[t + 1]]`` are the documents
    holding it and ``weights`` the same slice their BM25 term scores."""

    def __init__(self, vocabulary: Mapping[str, int], pointer: np.ndarray, documents: np.ndarray, weights: np.ndarray, size: int) -> None:
        self._vocabulary = vocabulary
        self._pointer = pointer
        self._documents = documents
        self._weights = weights
        self.size = size

    @classmethod
    def from_tokens(cls, tokens: TokenizedCollection) -> KeywordIndex:
        return cls.from_counts(tokens.vocabulary, tokens.passage_term_pointer, tokens.passage_term_ids, tokens.passage_term_counts)

    @classmethod
    def from_counts(cls, vocabulary: Mapping[str, int], pointer: np.ndarray, term_ids: np.ndarray, counts: np.ndarray) -> KeywordIndex:
        """BM25 of documents given as distinct term ids with their counts (CSR rows, one per document)."""
        size = len(pointer) - 1
        vocabulary_size = max(1, len(vocabulary))
        term_ids = np.asarray(term_ids, dtype=np.int64)
        per_document = np.diff(pointer)
        documents = np.repeat(np.arange(size), per_document)
        lengths = np.bincount(documents, weights=counts, minlength=size).astype(np.int64)  # terms, stop words left out
        document_frequency = np.bincount(term_ids, minlength=vocabulary_size)
        # as bm25s computes each step: IDF with math.log in float64 kept as float32, the term frequency part in
        # float64, their product rounded to float32
        frequencies, where = np.unique(document_frequency, return_inverse=True)
        idf = np.array([math.log(1 + (size - df + 0.5) / (df + 0.5)) for df in frequencies.tolist()], dtype=np.float32)[where]
        average_length = lengths.mean() if size else 1.0
        tf = np.asarray(counts, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            term_frequency = tf / (K1 * ((1 - B) + B * lengths[documents] / average_length) + tf)
        weights = (idf[term_ids].astype(np.float64) * term_frequency).astype(np.float32)
        # by term, documents ascending within each (the keys are distinct: numpy's faster unstable sort will do)
        order = np.argsort(term_ids * max(1, size) + documents)
        column_pointer = offsets(document_frequency)
        return cls(vocabulary, column_pointer, documents[order], weights[order], size)

    @classmethod
    def build(cls, texts: Sequence[str]) -> KeywordIndex:
        """BM25 over these texts (each one document)."""
        vocabulary: dict[str, int] = {}
        rows = [np.unique([vocabulary.setdefault(t, len(vocabulary)) for t in terms], return_counts=True) for terms in text_terms(texts)]
        pointer = offsets(np.array([len(ids) for ids, _ in rows], dtype=np.int64))
        term_ids = np.concatenate([ids for ids, _ in rows]) if rows else np.zeros(0, dtype=np.int64)
        counts = np.concatenate([c for _, c in rows]) if rows else np.zeros(0, dtype=np.int64)
        return cls.from_counts(vocabulary, pointer, term_ids.astype(np.int64), counts)

    def query_terms(self, question: str) -> list[str]:
        """The question's terms, made as tokens.text_terms makes them (lower case, bm25s's token pattern, its
        English stop words, stemmed) but for one text, each word's term remembered: every search tokenizes
        its question."""
        return question_terms(question)

    def scores(self, question_terms: Sequence[str], compiled: bool | None = None) -> np.ndarray:
        """BM25 of every document for the question's terms (``query_terms``). As in bm25s, a repeated term counts
        each time, unknown terms count nothing, and the term scores are added up in float32 in question order
        (in one compiled call where kernels.py has one, ``compiled`` as kernels.use takes it)."""
        vocabulary = self._vocabulary
        term_ids = [i for term in question_terms if (i := vocabulary.get(term)) is not None]
        kernel = kernels.use(compiled)
        if kernel is not None:
            scores = np.empty(self.size, dtype=np.float32)
            kernel.bm25_scores(self._pointer, self._documents, self._weights, np.array(term_ids, dtype=np.int64), scores)
            return scores
        scores = np.zeros(self.size, dtype=np.float32)
        for term_id in term_ids:
            start, end = self._pointer[term_id:term_id + 2].tolist()  # (Python ints slice faster)
            scores[self._documents[start:end]] += self._weights[start:end]
        return scores
