"""Scoring for hybrid search: small functions over arrays, vectorized with numpy.

A search runs in two stages. The first ranks passages by a weighted sum of their cosine similarity and relative
BM25, and keeps the best few as candidates: every passage of a collection searched exactly, whose cosines are
all computed at once (dense.py); past the approximate threshold, a pool of the nearest passages by the FAISS
index and the best by BM25. The second scores quote windows: every run of whole sentences of a candidate's
section that fits the quote limit and overlaps the candidate. Only these sentences are scored against the
question. (The first stage also used each passage's best sentence cosine; without it answer-hit@1 on the SQuAD
benchmark stayed 91.0%, while scoring every sentence had taken a quarter of a search.) A window's score adds
up, with weights measured on SQuAD with cross-validation across articles (bench/tune.py), its passage's
signals, how much of the question's IDF-weighted terms it holds, how similar its sentences are to the
question, and how many of the question's word pairs it repeats. Where the install built them, the window
scoring and the first stage run compiled (kernels.py), each in one call."""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from . import kernels

if TYPE_CHECKING:
    from .tokens import TokenizedCollection

# Words that say what kind of answer is wanted, not what it is about: left out of term matching (tokens.py).
QUESTION_WORDS = frozenset(
    """what which who whom whose when where why how did does do doing done was were is are be been being has
    have had can could would should may might shall will must many much name named type kind one ones some any""".split()
)


@dataclass(frozen=True, slots=True)
class FusionWeights:
    """How much each signal counts; chosen by measurement (bench/quality.py, bench/tune.py).

    The first two rank passages in the first stage. A window's score is ``x . w + (x . f)^2`` over its
    features ``x`` (WINDOW_FEATURES), ``w`` the ``window_*`` weights and ``f`` the ``focus_*`` ones: the square
    rewards windows where similarity and matching terms are high together, not one of them alone."""

    passage_dense: float = 0.7
    keyword: float = 0.3
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
        focus = features.dot(focus_weights)
        return features.dot(window) + focus * focus


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


def expand_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The concatenated ranges ``starts[i] .. starts[i] + counts[i] - 1``, as one array."""
    # (few calls, and array methods rather than numpy's Python-level wrappers: this runs several times a search)
    ends = np.asarray(counts).cumsum(dtype=np.int64)
    offsets = (np.asarray(starts, dtype=np.int64) - ends + counts).repeat(counts)
    return offsets + np.arange(int(ends[-1]) if len(ends) else 0)


def dot(vectors: np.ndarray, question_vector: np.ndarray) -> np.ndarray:
    """Cosine similarity of each (unit) row with the question."""
    # einsum rather than @ or np.dot: a matrix-vector product is too small for BLAS threads, which on a busy
    # machine cost milliseconds to wake between searches (measured: 6 ms against 0.5 ms for 3,300 sentences)
    return np.einsum("ij,j->i", vectors, question_vector)


def row_cosines(vectors: np.ndarray, rows: np.ndarray, question_vector: np.ndarray) -> np.ndarray:
    """Cosine similarity of the question with the (unit) ``vectors`` of ``rows``."""
    # (take rather than fancy indexing: a third faster for the few hundred rows of a search)
    return dot(np.asarray(vectors.take(rows, axis=0), dtype=np.float32), question_vector)


def fuse(passage_dense: np.ndarray, keyword: np.ndarray, keyword_scale: float, weights: FusionWeights) -> np.ndarray:
    """First stage: weighted sum of cosine similarity and relative BM25 (``keyword`` times ``keyword_scale``,
    which makes the best passage's 1)."""
    fused = passage_dense * np.float32(weights.passage_dense)
    fused += keyword * np.float32(weights.keyword * keyword_scale)
    return fused


def best_passages(
    passage_dense: np.ndarray, keyword: np.ndarray, keyword_scale: float, weights: FusionWeights, k: int,
    compiled: bool | None = None,
) -> np.ndarray:
    """First stage: the indices of the ``k`` highest ``fuse`` scores, best first (in one compiled call where
    kernels.py has one, ``compiled`` as kernels.use takes it)."""
    kernel = kernels.use(compiled)
    if kernel is None:
        return top_indices(fuse(passage_dense, keyword, keyword_scale, weights), k)
    best = np.empty(max(0, min(k, len(passage_dense))), dtype=np.int64)
    count = kernel.best_passages(passage_dense, keyword, weights.passage_dense, weights.keyword * keyword_scale, best)
    return best[:count]


def kth_highest(scores: np.ndarray, k: int) -> float:
    """The ``k``-th highest score (the lowest if there are fewer); -inf if there are none."""
    if len(scores) == 0:
        return -np.inf
    position = max(0, len(scores) - k)
    return float(np.partition(scores, position)[position])


def top_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    candidates = scores.argpartition(len(scores) - k)[len(scores) - k:]
    return candidates[scores[candidates].argsort(kind="stable")[::-1]]


# -- per-index sentence data ------------------------------------------------------------------------------------
# Adjacent term pairs are coded ``first * PAIR_BASE + second``: a fixed base (not the vocabulary's size) keeps a
# pair's code valid while the vocabulary of an updated collection grows (see tokens.py).
PAIR_SHIFT = 32
PAIR_BASE = 1 << PAIR_SHIFT


def sorted_by_key(keys: np.ndarray, key_count: int, row_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``keys`` (each below ``key_count``) of rows given as runs (row r holds the next ``row_counts[r]`` keys),
    sorted by key and row: the sorted keys and their rows. As one sort of ``key * rows + row``, which numpy's
    vectorized sort does several times faster than a stable argsort of the keys (when the product fits)."""
    size = len(row_counts)
    rows = np.repeat(np.arange(size), row_counts)
    if key_count * max(1, size) >= 1 << 62:
        order = np.argsort(keys, kind="stable")
        return keys[order], rows[order]
    combined = keys * size + rows
    combined.sort()
    return np.divmod(combined, size) if size else (keys, rows)


class SentenceTable:
    """What window scoring needs about every sentence of an index, made once per snapshot from its tokenized
    form with a few vectorized passes: quoted lengths, section bounds, and an inverted index of stemmed terms
    and adjacent term pairs (sentence rows per term)."""

    def __init__(self, tokens: TokenizedCollection) -> None:
        counts = tokens.passage_sentences
        passages = len(counts)
        self.passage_first = tokens.passage_first_sentence[:-1]
        self.passage_last = self.passage_first + counts - 1
        size = tokens.sentences
        self.size = size
        self.sentence_passage = np.repeat(np.arange(passages), counts)
        # A window of sentences i..j is quoted in cumulative[j + 1] - cumulative[i] - 1 characters:
        # whitespace between sentences collapses to one space.
        self.cumulative = np.concatenate(([0], np.cumsum(tokens.sentence_lengths + 1)))
        # sections are runs of passages with one section index, starting again at each article
        starts_section = np.ones(passages, dtype=bool)
        starts_section[1:] = tokens.passage_sections[1:] != tokens.passage_sections[:-1]
        article_starts = tokens.article_first_passage[:-1]
        starts_section[article_starts[article_starts < passages]] = True
        section_of = np.cumsum(starts_section) - 1
        first_passage = np.flatnonzero(starts_section)
        last_passage = np.flatnonzero(np.append(starts_section[1:], True)[:passages])
        self.section_first = np.repeat(self.passage_first[first_passage][section_of], counts)
        self.section_last = np.repeat(self.passage_last[last_passage][section_of], counts)
        # inverted index of terms: sentence rows per term id, ascending within each term
        vocabulary_size = max(1, len(tokens.vocabulary))
        term_ids = tokens.sentence_term_ids.astype(np.int64)
        sorted_ids, term_rows = sorted_by_key(term_ids, vocabulary_size, np.diff(tokens.sentence_term_pointer))
        # IDF over passages, as BM25 computes it: a term's rows are ascending, so are their passages
        passage_of = self.sentence_passage[term_rows]
        distinct = np.ones(len(sorted_ids), dtype=bool)
        distinct[1:] = (sorted_ids[1:] != sorted_ids[:-1]) | (passage_of[1:] != passage_of[:-1])
        document_frequency = np.bincount(sorted_ids[distinct], minlength=vocabulary_size)
        self.idf = np.log1p((passages - document_frequency + 0.5) / (document_frequency + 0.5)).astype(np.float32)
        # the terms some sentence holds (a vocabulary that only grows may keep terms of removed articles)
        held = document_frequency.tolist()
        self.vocabulary: dict[str, int] = {term: i for term, i in tokens.vocabulary.items() if held[i]}
        # pairs sorted by a dense key (first * vocabulary size + second), then coded again
        codes = tokens.sentence_pair_codes
        dense = (codes >> PAIR_SHIFT) * vocabulary_size + (codes & (PAIR_BASE - 1))
        dense, pair_rows = sorted_by_key(dense, vocabulary_size**2, np.diff(tokens.sentence_pair_pointer))
        pair_keys = ((dense // vocabulary_size + 1) << PAIR_SHIFT) | (dense % vocabulary_size)
        # Terms and pairs as one inverted index, so that one searchsorted finds the postings of a question's terms
        # and pairs together: per posting its key (see ``query``), sorted, and its sentence row. Rows are
        # kept as int32 (a sentence table never nears 2**31 rows), which pays for the keys of term postings.
        self._keys = np.concatenate((sorted_ids, pair_keys))
        self._rows = np.concatenate((term_rows, pair_rows)).astype(np.int32)

    def query(self, question_terms: Sequence[str]) -> tuple[np.ndarray, int]:
        """The keys in the inverted index of the question's known distinct terms (question words left out), then
        of its distinct adjacent pairs; and how many are terms. A term's key is its id, a pair's its code with
        its first term's id one higher (above any term id, even a pair starting with term 0)."""
        vocabulary = self.vocabulary
        ids = [i for t in question_terms if (i := vocabulary.get(t)) is not None]
        terms = list(dict.fromkeys(ids))
        pairs = dict.fromkeys((a + 1) << PAIR_SHIFT | b for a, b in zip(ids, ids[1:]) if a != b)
        return np.array(terms + list(pairs), dtype=np.int64), len(terms)

    @property
    def posting_keys(self) -> np.ndarray:
        """The key of every posting (see ``query``), ascending; ``posting_rows`` holds their sentence rows."""
        return self._keys

    @property
    def posting_rows(self) -> np.ndarray:
        """The sentence row of every posting (int32), ascending within each key."""
        return self._rows

    def postings(self, keys: np.ndarray) -> np.ndarray:
        """The sentence rows holding each of ``keys`` (``query``; a key no sentence holds has none), as one
        sorted array: column c's rows shifted by c * size, so that the lists follow each other and a single
        searchsorted answers for every column at once (``rows_before``) instead of one call per column."""
        # keys are integers: the rows of key k end where those of k + 1 would start
        edges = self._keys.searchsorted(np.concatenate((keys, keys + 1)))
        starts, counts = edges[:len(keys)], edges[len(keys):] - edges[:len(keys)]
        return self._rows[expand_ranges(starts, counts)] + (np.arange(len(keys)) * self.size).repeat(counts)

    def rows_before(self, postings: np.ndarray, columns: int, bounds: np.ndarray) -> np.ndarray:
        """(len(bounds), columns): how many rows holding column j's term (or pair) come before each of the
        sentence rows ``bounds``, ``postings`` being what ``postings`` gave for the columns. Rows a..b hold the
        term when the count before b + 1 exceeds the count before a."""
        return postings.searchsorted(bounds[:, None] + np.arange(columns) * self.size)


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
    # per window, per sentence first, first + 1, ... (padded with the last one): cosine similarity and share
    # of the question's terms, for the highlight
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


@dataclass(frozen=True, slots=True)
class PassageWindows:
    """The quote windows of some passages (candidate_windows) with what about them does not depend on the
    question. A collection searched exactly has them made once for all its passages (IndexSnapshot.windows)
    and each search selects its candidates'; a larger one makes them per search, for the candidates only."""

    pointer: np.ndarray  # the windows of the i-th passage given are pointer[i]:pointer[i + 1]
    owner: np.ndarray  # per window: the position of its passage among the passages given
    passage: np.ndarray  # per window: its passage's row
    first: np.ndarray
    last: np.ndarray
    outside: np.ndarray  # share of the window's sentences outside its passage
    norm: np.ndarray  # norm of the sum of its sentence vectors (at least 1e-6), for the centroid's cosine

    # windows whose sums are made together, bounding the memory a snapshot's table takes to make
    CHUNK = 8192

    @classmethod
    def build(cls, table: SentenceTable, sentence_vectors: np.ndarray, passages: np.ndarray, limit: int) -> PassageWindows:
        passages = np.asarray(passages, dtype=np.int64)
        owner, first, last = candidate_windows(table, passages, limit)
        passage = passages[owner]
        passage_first, passage_last = table.passage_first[passage], table.passage_last[passage]
        shared = np.maximum(0, np.minimum(last, passage_last) - np.maximum(first, passage_first) + 1)
        norms = [
            window_norms(sentence_vectors, first[start:start + cls.CHUNK], last[start:start + cls.CHUNK])
            for start in range(0, len(first), cls.CHUNK)
        ]
        return cls(
            pointer=np.searchsorted(owner, np.arange(len(passages) + 1)),
            owner=owner,
            passage=passage,
            first=first,
            last=last,
            outside=1.0 - shared / (last - first + 1),
            norm=np.maximum(np.concatenate(norms) if norms else np.zeros(0, np.float32), 1e-6),
        )

    def spans(self) -> tuple[np.ndarray, np.ndarray]:
        """The first and last sentence row of the windows of each passage given (they make one run: windows
        of a passage start and end further on one after another)."""
        return self.first[self.pointer[:-1]], self.last[self.pointer[1:] - 1]

    def select(self, passages: np.ndarray) -> PassageWindows:
        """The windows of ``passages`` (rows of the passages this was built for), in their order."""
        starts = self.pointer[passages]
        counts = self.pointer[np.asarray(passages) + 1] - starts
        picked = expand_ranges(starts, counts)
        return PassageWindows(
            pointer=np.concatenate(([0], counts.cumsum())),
            owner=np.arange(len(counts)).repeat(counts),
            passage=self.passage[picked],
            first=self.first[picked],
            last=self.last[picked],
            outside=self.outside[picked],
            norm=self.norm[picked],
        )


def window_norms(sentence_vectors: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """The norm of the sum of each window's sentence vectors (rows first..last), as float32."""
    if len(first) == 0:
        return np.zeros(0, dtype=np.float32)
    rows = np.unique(expand_ranges(first, last - first + 1))
    # sums as differences of running totals over the rows windows hold; in float64, so that subtracting
    # two large totals leaves the small window sum exact to float32
    totals = np.zeros((len(rows) + 1, sentence_vectors.shape[1]), dtype=np.float64)
    np.cumsum(sentence_vectors[rows], axis=0, dtype=np.float64, out=totals[1:])
    sums = totals[np.searchsorted(rows, last) + 1] - totals[np.searchsorted(rows, first)]
    return np.sqrt(np.einsum("ij,ij->i", sums, sums)).astype(np.float32)


def score_windows(
    table: SentenceTable,
    windows: PassageWindows,
    positions: np.ndarray,
    candidate_signals: np.ndarray,
    sentence_vectors: np.ndarray,
    question_vector: np.ndarray,
    question_terms: Sequence[str],
    weights: FusionWeights,
    compiled: bool | None = None,
) -> Windows:
    """The features and score (see WINDOW_FEATURES) of every quote window of the candidate passages, which are
    the passages at ``positions`` among those ``windows`` were made for; ``candidate_signals`` holds each
    candidate's first-stage signals: passage cosine and relative BM25 (float32). Computed by the compiled kernel
    when it was built (``compiled`` None) or asked for (True), else with numpy: the two agree to float32 rounding."""
    keys, columns = table.query(question_terms)  # terms first, then pairs
    score = _score_compiled if kernels.use(compiled) else _score_numpy
    return score(table, windows, np.asarray(positions, dtype=np.int64), candidate_signals, sentence_vectors,
                 np.ascontiguousarray(question_vector, dtype=np.float32), keys, columns, weights)


def _score_compiled(
    table: SentenceTable, windows: PassageWindows, positions: np.ndarray, candidate_signals: np.ndarray,
    sentence_vectors: np.ndarray, question_vector: np.ndarray, keys: np.ndarray, columns: int, weights: FusionWeights,
) -> Windows:
    compiled = kernels.compiled
    assert compiled is not None
    count, width = compiled.window_extent(windows.pointer, windows.first, windows.last, positions)
    passage, first, last = np.empty(count, dtype=np.int64), np.empty(count, dtype=np.int64), np.empty(count, dtype=np.int64)
    features = np.empty((count, len(WINDOW_FEATURES)), dtype=np.float32)
    scores = np.empty(count, dtype=np.float32)
    sentence_dense = np.empty((count, max(1, width)), dtype=np.float32)
    sentence_terms = np.empty((count, max(1, width)), dtype=np.float32)
    window_weights, focus_weights = _weight_vectors(weights)
    compiled.score_windows(
        sentence_vectors, question_vector, table.posting_keys, table.posting_rows, keys, table.idf[keys[:columns]],
        windows.pointer, windows.passage, windows.first, windows.last, windows.outside, windows.norm, positions,
        table.passage_first, table.passage_last, candidate_signals, window_weights, focus_weights,
        passage, first, last, features, scores, sentence_dense, sentence_terms,
    )
    return Windows(passage, first, last, features, scores, sentence_dense, sentence_terms)


def _score_numpy(
    table: SentenceTable, windows: PassageWindows, positions: np.ndarray, candidate_signals: np.ndarray,
    sentence_vectors: np.ndarray, question_vector: np.ndarray, keys: np.ndarray, columns: int, weights: FusionWeights,
) -> Windows:
    windows = windows.select(positions)
    candidates = windows.passage[windows.pointer[:-1]]
    first, last = windows.first, windows.last
    idf = table.idf[keys[:columns]]
    idf_total = float(np.add.reduce(idf)) or 1.0
    # The sentences of each candidate's windows are one run of rows (see PassageWindows.spans). ``bounds`` holds
    # each run and the row after it, one run after another (a sentence two candidates share comes twice:
    # cheaper than sorting them out); rows are looked up by their position there, ``shift`` away from the row.
    span_first, span_last = windows.spans()
    span_sizes = span_last - span_first + 2
    bounds = expand_ranges(span_first, span_sizes)
    shift = (span_sizes.cumsum() - span_sizes - span_first)[windows.owner]
    first_at, last_at = first + shift, last + shift
    # every sentence of each window, padded with its last: (windows, width) positions in ``bounds``
    sizes = last - first + 1
    offsets = np.arange(int(np.maximum.reduce(sizes)) if len(sizes) else 1)
    where = np.minimum(first_at[:, None] + offsets, last_at[:, None])
    inside = offsets < sizes[:, None]
    # (a run's last bound is never used)
    bound_dense = row_cosines(sentence_vectors, np.minimum(bounds, table.size - 1), question_vector)
    window_dense = bound_dense[where]
    dense_sum = np.add.reduce(window_dense * inside, axis=1)
    # How many rows holding each of the question's terms and pairs come before each bound, terms first: terms and
    # pairs found together (one search), and whether each window holds each of them compared together
    before = table.rows_before(table.postings(keys), len(keys), bounds)
    window_held = before[last_at + 1] > before[first_at]
    # IDF-weighted shares of the question's terms held by each sentence, window and candidate passage
    terms_before = before[:, :columns]
    candidate_shift = shift[windows.pointer[:-1]]
    candidate_first = table.passage_first[candidates] + candidate_shift
    candidate_last = table.passage_last[candidates] + candidate_shift
    # each candidate's best sentence: its rows are a run of positions, which reduceat takes between the run's
    # first position and the one after its last (the maxima between one run's end and the next are dropped)
    edges = np.empty(2 * len(candidates), dtype=np.int64)
    edges[0::2], edges[1::2] = candidate_first, candidate_last + 1
    candidate_sentence = np.maximum.reduceat(bound_dense, edges)[::2]
    held = np.concatenate(
        (
            terms_before[1:] > terms_before[:-1],  # each sentence
            window_held[:, :columns],  # each window
            terms_before[candidate_last + 1] > terms_before[candidate_first],  # each candidate passage
        )
    )
    shares = (held @ idf) / idf_total
    coverage = shares[where]
    window_terms = shares[len(bounds) - 1:len(bounds) - 1 + len(first)]
    passage_terms = shares[len(bounds) - 1 + len(first):]
    if len(keys) > columns:
        # as .mean(), without its overhead
        window_pairs = np.add.reduce(window_held[:, columns:], axis=1, dtype=np.float64) / (len(keys) - columns)
    else:
        window_pairs = np.zeros(len(first), dtype=np.float32)
    # The first four features are the candidate passage's: made per candidate, then taken for its windows at once
    per_candidate = np.empty((len(candidates), 4), dtype=np.float32)
    per_candidate[:, 0], per_candidate[:, 1] = candidate_signals[:, 0], candidate_sentence
    per_candidate[:, 2], per_candidate[:, 3] = candidate_signals[:, 1], passage_terms
    window_columns = (  # the other WINDOW_FEATURES
        np.maximum.reduce(window_dense, axis=1),
        dense_sum / sizes,
        window_terms,
        np.maximum.reduce(coverage, axis=1),
        windows.outside,
        dense_sum / windows.norm,  # the centroid's cosine: sum of cosines over the norm of the summed vectors
        window_pairs,
    )
    # filled column by column: cheaper than stacking them (each is cast to float32 as it is copied in)
    features = np.empty((len(first), len(WINDOW_FEATURES)), dtype=np.float32)
    features[:, :4] = per_candidate[windows.owner]
    for column, values in enumerate(window_columns, 4):
        features[:, column] = values
    return Windows(windows.passage, first, last, features, weights.window_scores(features), window_dense, coverage)


def choose_windows(windows: Windows, k: int, max_shared: float = 0.0) -> list[int]:
    """The best ``k`` windows that do not repeat each other: at most ``max_shared`` of a window's sentences may
    have been quoted by a better one (none by default). Two windows may come from the same long passage."""
    chosen: list[int] = []
    shown: set[int] = set()
    # plain Python over lists: a handful of short windows, where numpy's per-call cost would dominate
    firsts, lasts = windows.first.tolist(), windows.last.tolist()
    for window in np.argsort(-windows.scores, kind="stable").tolist():
        rows = range(firsts[window], lasts[window] + 1)
        if len(shown.intersection(rows)) > max_shared * len(rows):
            continue
        chosen.append(window)
        shown.update(rows)
        if len(chosen) == k:
            break
    return chosen


def highlight_rows(windows: Windows, chosen: Sequence[int], term_weight: float) -> list[int]:
    """The sentence row of each chosen window that best answers: cosine similarity plus weighted share of terms."""
    scores = windows.sentence_dense[chosen] + term_weight * windows.sentence_terms[chosen]
    # the padding repeats the last sentence, so argmax (the first best) never picks it
    return (windows.first[chosen] + scores.argmax(axis=1)).tolist()


def weights_from_vectors(window: Sequence[float], focus: Sequence[float], base: FusionWeights | None = None) -> FusionWeights:
    """FusionWeights with the window and focus weights taken from vectors in WINDOW_FEATURES order."""
    values = {f.name: v for f, v in zip(fields(FusionWeights), astuple(base or FusionWeights()))}
    values.update({"window_" + name: round(float(v), 3) for name, v in zip(WINDOW_FEATURES, window)})
    values.update({"focus_" + name: round(float(v), 3) for name, v in zip(WINDOW_FEATURES, focus)})
    return FusionWeights(**values)
