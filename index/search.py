"""Scoring for hybrid search: small pure functions over arrays, one score per passage or sentence."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class FusionWeights:
    """How much each signal counts in a passage's score; chosen by measurement (bench/quality.py)."""

    passage_dense: float = 0.35
    sentence_dense: float = 0.35
    keyword: float = 0.30


def max_per_group(values: np.ndarray, group_starts: np.ndarray) -> np.ndarray:
    """The maximum of each consecutive group of ``values``; ``group_starts`` holds each group's first index."""
    if len(group_starts) == 0:
        return np.zeros(0, dtype=values.dtype)
    return np.maximum.reduceat(values, group_starts)


def relative_keyword_scores(bm25: np.ndarray) -> np.ndarray:
    """BM25 scaled to [0, 1] by the best passage for this question (BM25 has no absolute scale)."""
    best = float(bm25.max()) if bm25.size else 0.0
    return bm25 / best if best > 0 else np.zeros_like(bm25)


def fuse(
    passage_dense: np.ndarray, sentence_dense_max: np.ndarray, keyword: np.ndarray, weights: FusionWeights
) -> np.ndarray:
    """Weighted sum of cosine similarities and relative BM25."""
    return (
        weights.passage_dense * passage_dense
        + weights.sentence_dense * sentence_dense_max
        + weights.keyword * relative_keyword_scores(keyword)
    )


def top_indices(scores: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[int]:
    """Indices of the ``k`` highest scores, best first, optionally only where ``allowed`` is true."""
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    k = min(k, int(np.isfinite(scores).sum()))
    if k <= 0:
        return []
    candidates = np.argpartition(-scores, k - 1)[:k]
    return [int(i) for i in candidates[np.argsort(-scores[candidates], kind="stable")]]


def term_overlap(question_terms: Sequence[str], sentence_terms: Sequence[Sequence[str]]) -> np.ndarray:
    """Share of the question's distinct terms that each sentence contains."""
    wanted = set(question_terms)
    if not wanted:
        return np.zeros(len(sentence_terms), dtype=np.float32)
    return np.array([len(wanted.intersection(terms)) / len(wanted) for terms in sentence_terms], dtype=np.float32)
