"""Scoring for hybrid search: small functions over arrays, all vectorized with numpy.

A search runs in two stages. The first gathers a pool of passages (the nearest passages and sentences by the
FAISS indexes, and the best by BM25), ranks the pool by a weighted sum of cosine similarities (the passage's
and its best sentence's) and relative BM25, and keeps the best few as candidates. The second scores quote
windows: every run of whole sentences of a candidate's section that fits the quote limit and overlaps the
candidate. A window's score adds up, with weights measured on SQuAD with cross-validation across articles
(bench/tune.py), its passage's first-stage signals, how much of the question's IDF-weighted terms it holds,
how similar its sentences are to the question, and how many of the question's word pairs it repeats."""
from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import numpy as np

from .records import Passage
from .text import collapse_whitespace

# Words that say what kind of answer is wanted, not what it is about: left out of term matching.
QUESTION_WORDS = frozenset(
    """what which who whom whose when where why how did does do doing done was were is are be been being has
    have had can could would should may might shall will must many much name named type kind one ones some any""".split()
)


@dataclass(frozen=True, slots=True)
class FusionWeights:
    """How much each signal counts; chosen by measurement (bench/quality.py, bench/tune.py).

    The first three rank passages in the first stage. A window's score is ``x . w + (x . f)^2`` over its
    features ``x`` (WINDOW_FEATURES), ``w`` the ``window_*`` weights and ``f`` the ``focus_*`` ones: the square
    rewards windows where similarity and matching terms are high together, not one of them alone."""

    passage_dense: float = 0.35
    sentence_dense: float = 0.35
    keyword: float = 0.30
    # second stage, one weight per entry of WINDOW_FEATURES
    window_passage_dense: float = 0.2
    window_passage_sentence: float = 0.15
    window_keyword: float = 0.5
    window_passage_terms: float = 0.59
    window_best_sentence: float = 0.3
    window_mean_sentence: float = 0.6
    window_terms: float = 0.62
    window_sentence_terms: float = 0.56
    window_outside: float = -1.36
    window_centroid: float = 0.61
    window_pairs: float = 1.38
    focus_passage_dense: float = 1.02
    focus_passage_sentence: float = 1.05
    focus_keyword: float = 0.0
    focus_passage_terms: float = 0.49
    focus_best_sentence: float = 1.82
    focus_mean_sentence: float = 0.0
    focus_terms: float = 0.7
    focus_sentence_terms: float = 0.53
    focus_outside: float = 0.0
    focus_centroid: float = 0.0
    focus_pairs: float = 0.0
    # choosing the sentence to highlight: cosine similarity plus this times its share of the question's terms
    highlight_terms: float = 0.5

    def window_vector(self) -> np.ndarray:
        return np.array([getattr(self, "window_" + name) for name in WINDOW_FEATURES], dtype=np.float32)

    def focus_vector(self) -> np.ndarray:
        return np.array([getattr(self, "focus_" + name) for name in WINDOW_FEATURES], dtype=np.float32)

    def window_scores(self, features: np.ndarray) -> np.ndarray:
        window, focus_weights = _weight_vectors(self)
        focus = np.dot(features, focus_weights)
        return np.dot(features, window) + focus * focus


@functools.lru_cache(maxsize=8)
def _weight_vectors(weights: FusionWeights) -> tuple[np.ndarray, np.ndarray]:
    """The window and focus weight vectors, made once per set of weights rather than on every search."""
    return weights.window_vector(), weights.focus_vector()


# The columns of the window feature matrix, in order (FusionWeights has a ``window_<name>`` weight for each).
WINDOW_FEATURES = (
    "passage_dense",  # cosine similarity of the candidate passage
    "passage_sentence",  # best sentence cosine in the candidate passage
    "keyword",  # the passage's BM25 relative to the best passage's
    "passage_terms",  # IDF-weighted share of the question's terms found in the passage
    "best_sentence",  # best sentence cosine in the window
    "mean_sentence",  # mean sentence cosine in the window
    "terms",  # IDF-weighted share of the question's terms found in the window
    "sentence_terms",  # the same for the window's best sentence alone
    "outside",  # share of the window's sentences outside the candidate passage
    "centroid",  # cosine similarity of the mean of the window's sentence vectors
    "pairs",  # share of the question's adjacent term pairs found adjacent in the window
)


def max_per_group(values: np.ndarray, group_starts: np.ndarray) -> np.ndarray:
    """The maximum of each consecutive group of ``values``; ``group_starts`` holds each group's first index."""
    if len(group_starts) == 0:
        return np.zeros(0, dtype=values.dtype)
    return np.maximum.reduceat(values, group_starts)


def expand_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The concatenated ranges ``starts[i] .. starts[i] + counts[i] - 1``, as one array."""
    counts = np.asarray(counts, dtype=np.int64)
    offsets = np.repeat(np.asarray(starts, dtype=np.int64) - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    return offsets + np.arange(int(counts.sum()))


def dot(vectors: np.ndarray, question_vector: np.ndarray) -> np.ndarray:
    """Cosine similarity of each (unit) row with the question."""
    # einsum rather than @ or np.dot: a matrix-vector product is too small for BLAS threads, which on a busy
    # machine cost milliseconds to wake between searches (measured: 6 ms against 0.5 ms for 3,300 sentences)
    return np.einsum("ij,j->i", vectors, question_vector)


def fuse(
    passage_dense: np.ndarray, sentence_dense_max: np.ndarray, keyword_relative: np.ndarray, weights: FusionWeights
) -> np.ndarray:
    """First stage: weighted sum of cosine similarities and BM25 relative to the best passage's."""
    return (
        weights.passage_dense * passage_dense
        + weights.sentence_dense * sentence_dense_max
        + weights.keyword * keyword_relative
    )


def top_indices(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the ``k`` highest scores, best first."""
    k = min(k, int(np.isfinite(scores).sum()))
    if k <= 0:
        return []
    candidates = np.argpartition(-scores, k - 1)[:k]
    return [int(i) for i in candidates[np.argsort(-scores[candidates], kind="stable")]]


# -- per-index sentence data ------------------------------------------------------------------------------------
class SentenceTable:
    """What window scoring needs about every sentence of an index, computed once per snapshot: quoted lengths,
    section bounds, and an inverted index of stemmed terms and adjacent term pairs (sentence rows per term)."""

    def __init__(
        self,
        passages: Sequence[Passage],
        sentence_texts: Sequence[str],
        sentence_terms: Sequence[Sequence[str]],
        question_word_terms: Sequence[str] = (),
    ) -> None:
        counts = np.fromiter((len(p.sentences) for p in passages), dtype=np.int64, count=len(passages))
        self.passage_first = np.concatenate(([0], np.cumsum(counts)[:-1])) if len(counts) else counts
        self.passage_last = self.passage_first + counts - 1
        size = int(counts.sum())
        self.size = size
        self.sentence_passage = np.repeat(np.arange(len(passages)), counts)
        lengths = np.fromiter((len(collapse_whitespace(t)) for t in sentence_texts), dtype=np.int64, count=size)
        # A window of sentences i..j is quoted in cumulative[j + 1] - cumulative[i] - 1 characters:
        # whitespace between sentences collapses to one space.
        self.cumulative = np.concatenate(([0], np.cumsum(lengths + 1)))
        self.section_first = np.zeros(size, dtype=np.int64)
        self.section_last = np.zeros(size, dtype=np.int64)
        row = 0
        while row < len(passages):
            key = (passages[row].article_id, passages[row].section_index)
            last = row
            while last + 1 < len(passages) and (passages[last + 1].article_id, passages[last + 1].section_index) == key:
                last += 1
            first_sentence, last_sentence = self.passage_first[row], self.passage_last[last]
            self.section_first[first_sentence:last_sentence + 1] = first_sentence
            self.section_last[first_sentence:last_sentence + 1] = last_sentence
            row = last + 1
        # inverted index of terms: vocabulary, then rows per term in CSR form
        ignored = frozenset(question_word_terms)
        self.vocabulary: dict[str, int] = {}
        term_rows: list[int] = []
        term_ids: list[int] = []
        pair_codes: list[int] = []
        pair_rows: list[int] = []
        sequences = []
        for sentence_row, terms in enumerate(sentence_terms):
            ids = [self.vocabulary.setdefault(t, len(self.vocabulary)) for t in terms if t not in ignored]
            sequences.append(ids)
            for term in set(ids):
                term_ids.append(term)
                term_rows.append(sentence_row)
        vocabulary_size = max(1, len(self.vocabulary))
        self._pair_base = vocabulary_size
        for sentence_row, ids in enumerate(sequences):
            for code in {a * vocabulary_size + b for a, b in zip(ids, ids[1:])}:
                pair_codes.append(code)
                pair_rows.append(sentence_row)
        ids_array = np.asarray(term_ids, dtype=np.int64)
        rows_array = np.asarray(term_rows, dtype=np.int64)
        order = np.lexsort((rows_array, ids_array))
        self._term_rows = rows_array[order]
        self._term_pointer = np.searchsorted(ids_array[order], np.arange(vocabulary_size + 1))
        # IDF over passages, as BM25 computes it
        passage_of = self.sentence_passage[rows_array] if size else rows_array
        distinct = np.unique(ids_array * max(1, len(passages)) + passage_of)
        document_frequency = np.bincount(distinct // max(1, len(passages)), minlength=vocabulary_size)
        total = len(passages)
        self.idf = np.log1p((total - document_frequency + 0.5) / (document_frequency + 0.5)).astype(np.float32)
        codes = np.asarray(pair_codes, dtype=np.int64)
        order = np.lexsort((np.asarray(pair_rows, dtype=np.int64), codes))
        self._pair_codes = codes[order]
        self._pair_rows = np.asarray(pair_rows, dtype=np.int64)[order]

    # The arrays a saved table is made of, one .npy file each (the vocabulary is a JSON list, in id order).
    SAVED_ARRAYS = (
        "passage_first", "passage_last", "sentence_passage", "cumulative", "section_first", "section_last",
        "idf", "_term_rows", "_term_pointer", "_pair_codes", "_pair_rows",
    )

    def save(self, folder: Path) -> None:
        """Write the table into ``folder``, so that loading an index does not tokenize every sentence again."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in self.SAVED_ARRAYS:
            with (folder / f"{name.lstrip('_')}.npy").open("wb") as handle:
                np.save(handle, getattr(self, name))
                handle.flush()
                os.fsync(handle.fileno())
        (folder / "vocabulary.json").write_text(json.dumps(list(self.vocabulary), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> SentenceTable:
        """A table saved by ``save``; its arrays are memory-mapped."""
        table = cls.__new__(cls)
        for name in cls.SAVED_ARRAYS:
            setattr(table, name, np.load(folder / f"{name.lstrip('_')}.npy", mmap_mode="r", allow_pickle=False))
        terms = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
        table.vocabulary = {term: number for number, term in enumerate(terms)}
        table.size = len(table.sentence_passage)
        table._pair_base = max(1, len(table.vocabulary))
        return table

    @classmethod
    def build(cls, snapshot, tokenize: Callable[[Sequence[str]], list[list[str]]]) -> SentenceTable:
        texts = [
            snapshot.articles[p.article_id].text[s.start:s.end] for p in snapshot.passages for s in p.sentences
        ]
        question_word_terms = [t for terms in tokenize(sorted(QUESTION_WORDS)) for t in terms]
        return cls(snapshot.passages, texts, tokenize(texts) if texts else [], question_word_terms)

    def query(self, question_terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The question's known distinct term ids (question words left out) and its adjacent pair codes."""
        ids = [self.vocabulary[t] for t in question_terms if t in self.vocabulary]
        distinct = np.array(list(dict.fromkeys(ids)), dtype=np.int64)
        pairs = np.array(list(dict.fromkeys(a * self._pair_base + b for a, b in zip(ids, ids[1:]) if a != b)), dtype=np.int64)
        return distinct, pairs

    def term_presence(self, rows: np.ndarray, term_ids: np.ndarray) -> np.ndarray:
        """(len(rows), len(term_ids)) booleans: which of the sorted sentence ``rows`` hold each term."""
        present = np.zeros((len(rows), len(term_ids)), dtype=bool)
        for column, term in enumerate(term_ids):
            postings = self._term_rows[self._term_pointer[term]:self._term_pointer[term + 1]]
            present[:, column] = _sorted_contains(postings, rows)
        return present

    def pair_presence(self, rows: np.ndarray, pair_codes: np.ndarray) -> np.ndarray:
        present = np.zeros((len(rows), len(pair_codes)), dtype=bool)
        for column, code in enumerate(pair_codes):
            first, last = np.searchsorted(self._pair_codes, [code, code + 1])
            present[:, column] = _sorted_contains(self._pair_rows[first:last], rows)
        return present


def _sorted_contains(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """For each needle, whether the sorted ``haystack`` holds it."""
    if len(haystack) == 0:
        return np.zeros(len(needles), dtype=bool)
    positions = np.minimum(np.searchsorted(haystack, needles), len(haystack) - 1)
    return haystack[positions] == needles


# -- windows --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Windows:
    """Candidate quote windows of one question: sentence rows first..last (inclusive), the candidate passage
    each came from, its features (columns as WINDOW_FEATURES) and its score."""

    passage: np.ndarray
    first: np.ndarray
    last: np.ndarray
    features: np.ndarray
    scores: np.ndarray
    # per sentence row of ``rows``: cosine similarity and share of question terms, for the highlight
    rows: np.ndarray
    sentence_dense: np.ndarray
    sentence_terms: np.ndarray


def candidate_windows(table: SentenceTable, candidates: Sequence[int], limit: int) -> tuple[np.ndarray, ...]:
    """Maximal windows (as long as the limit allows, within the section) overlapping each candidate passage.

    Returns (candidate, first, last) arrays, one entry per window, ``candidate`` being the position in
    ``candidates``; a window never ends before a longer one starting a sentence earlier does (such windows
    are left out, they quote less of the same text)."""
    candidates = np.asarray(candidates, dtype=np.int64)
    if len(candidates) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    cumulative = table.cumulative
    first_row, last_row = table.passage_first[candidates], table.passage_last[candidates]
    section_first, section_last = table.section_first[first_row], table.section_last[first_row]
    # the earliest start whose window still reaches the passage's first sentence
    reach = np.searchsorted(cumulative, cumulative[first_row + 1] - limit - 1, "left")
    earliest = np.minimum(np.maximum(section_first, reach), first_row)
    counts = last_row - earliest + 1
    position = np.repeat(np.arange(len(candidates)), counts)
    starts = expand_ranges(earliest, counts)
    ends = np.searchsorted(cumulative, cumulative[starts] + limit + 1, "right") - 2
    ends = np.maximum(np.minimum(ends, np.repeat(section_last, counts)), starts)
    # Ends never decrease as starts increase within a candidate: keep each candidate's first window and
    # every window that reaches further than the one starting a sentence before it.
    keep = np.ones(len(starts), dtype=bool)
    keep[1:] = (ends[1:] > ends[:-1]) | (position[1:] != position[:-1])
    return position[keep], starts[keep], ends[keep]


def score_windows(
    table: SentenceTable,
    candidates: Sequence[int],
    candidate_signals: np.ndarray,
    sentence_vectors: np.ndarray,
    question_vector: np.ndarray,
    question_terms: Sequence[str],
    weights: FusionWeights,
    limit: int,
) -> Windows:
    """Every candidate window's features and score (see WINDOW_FEATURES). ``candidate_signals`` holds each
    candidate's first-stage signals: passage cosine, best sentence cosine and relative BM25. Only the vectors
    of the sentences that windows hold are read."""
    position, first, last = candidate_windows(table, candidates, limit)
    passage = np.asarray(candidates, dtype=np.int64)[position]
    rows = np.unique(expand_ranges(first, last - first + 1))
    term_ids, pair_codes = table.query(question_terms)
    idf = table.idf[term_ids]
    idf_total = float(idf.sum()) or 1.0
    present = table.term_presence(rows, term_ids)
    pairs = table.pair_presence(rows, pair_codes)
    local_first = np.searchsorted(rows, first)
    local_last = np.searchsorted(rows, last)
    vectors = np.asarray(sentence_vectors[rows], dtype=np.float32)
    dense = dot(vectors, question_vector)
    coverage = (present @ idf) / idf_total

    def union_share(matrix: np.ndarray, weight: np.ndarray | None, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        if matrix.shape[1] == 0:
            return np.zeros(len(lo), dtype=np.float32)
        counts = np.vstack([np.zeros((1, matrix.shape[1]), dtype=np.int64), np.cumsum(matrix, axis=0)])
        held = (counts[hi + 1] - counts[lo]) > 0
        if weight is None:
            return held.mean(axis=1)
        return (held @ weight) / idf_total

    width = int((local_last - local_first).max()) + 1 if len(first) else 1
    offsets = np.arange(width)
    index = np.minimum(local_first[:, None] + offsets, local_last[:, None])
    inside = offsets <= (local_last - local_first)[:, None]
    window_dense = dense[index]
    best_sentence = window_dense.max(axis=1)
    mean_sentence = (window_dense * inside).sum(axis=1) / inside.sum(axis=1)
    sentence_terms = coverage[index].max(axis=1)
    window_terms = union_share(present, idf, local_first, local_last)
    window_pairs = union_share(pairs, None, local_first, local_last)
    # the passage's own share of terms: its sentences are all among ``rows``
    passage_lo = np.searchsorted(rows, table.passage_first[passage])
    passage_hi = np.searchsorted(rows, table.passage_last[passage])
    passage_terms = union_share(present, idf, passage_lo, passage_hi)
    candidate_first, candidate_last = table.passage_first[passage], table.passage_last[passage]
    shared = np.maximum(0, np.minimum(last, candidate_last) - np.maximum(first, candidate_first) + 1)
    outside = 1.0 - shared / (last - first + 1)
    # cosine of the window's centroid: sum of cosines over the norm of the summed vectors
    summed = np.vstack([np.zeros((1, vectors.shape[1]), dtype=np.float32), np.cumsum(vectors, axis=0)])
    window_sum = summed[local_last + 1] - summed[local_first]
    dense_sum = (window_dense * inside).sum(axis=1)
    centroid = dense_sum / np.maximum(np.linalg.norm(window_sum, axis=1), 1e-6)
    signals = candidate_signals[position]
    features = np.column_stack(
        [
            signals[:, 0],
            signals[:, 1],
            signals[:, 2],
            passage_terms,
            best_sentence,
            mean_sentence,
            window_terms,
            sentence_terms,
            outside,
            centroid,
            window_pairs,
        ]
    ).astype(np.float32)
    return Windows(passage, first, last, features, weights.window_scores(features), rows, dense, coverage)


def choose_windows(windows: Windows, k: int, max_shared: float = 0.0) -> list[int]:
    """The best ``k`` windows that do not repeat each other: at most ``max_shared`` of a window's sentences may
    have been quoted by a better one (none by default). Two windows may come from the same long passage."""
    chosen: list[int] = []
    shown = np.zeros(windows.last.max() + 1 if len(windows.last) else 0, dtype=bool)
    for window in np.argsort(-windows.scores, kind="stable"):
        first, last = int(windows.first[window]), int(windows.last[window])
        if np.count_nonzero(shown[first:last + 1]) > max_shared * (last - first + 1):
            continue
        chosen.append(int(window))
        shown[first:last + 1] = True
        if len(chosen) == k:
            break
    return chosen


def highlight_row(windows: Windows, window: int, term_weight: float) -> int:
    """The sentence row of the window that best answers: cosine similarity plus weighted share of terms."""
    lo = int(np.searchsorted(windows.rows, windows.first[window]))
    hi = int(np.searchsorted(windows.rows, windows.last[window]))
    scores = windows.sentence_dense[lo:hi + 1] + term_weight * windows.sentence_terms[lo:hi + 1]
    return int(windows.rows[lo + int(np.argmax(scores))])


def weights_from_vectors(window: Sequence[float], focus: Sequence[float], base: FusionWeights | None = None) -> FusionWeights:
    """FusionWeights with the window and focus weights taken from vectors in WINDOW_FEATURES order."""
    values = {f.name: v for f, v in zip(fields(FusionWeights), astuple(base or FusionWeights()))}
    values.update({"window_" + name: round(float(v), 3) for name, v in zip(WINDOW_FEATURES, window)})
    values.update({"focus_" + name: round(float(v), 3) for name, v in zip(WINDOW_FEATURES, focus)})
    return FusionWeights(**values)
