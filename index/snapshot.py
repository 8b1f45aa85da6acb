"""An immutable, searchable state of the index: articles, passages, vectors and the keyword index.

Updates build a new snapshot and swap it in, so a search always sees one consistent state."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .keyword import KeywordIndex
from .records import Article, Passage
from .search import PassageWindows, SentenceTable
from .vectors import VectorIndex


@dataclass(frozen=True)
class IndexSnapshot:
    model_id: str
    dimension: int
    articles: dict[str, Article]  # in passage order: an article's passages are contiguous
    indexed_at: dict[str, float]
    passages: tuple[Passage, ...]
    passage_vectors: np.ndarray  # (passages, dimension)
    sentence_vectors: np.ndarray  # (sentences, dimension), passage by passage
    keyword: KeywordIndex  # one document per passage
    # Past vectors.APPROXIMATE_THRESHOLD passages, the approximate FAISS index the first stage searches.
    approximate_passages: VectorIndex | None = None
    # The sentence table as saved in the index folder; made from the records when there is none.
    saved_sentence_table: SentenceTable | None = None
    # PassageWindows of every passage, by quote limit (see ``windows``)
    _windows: dict[int, PassageWindows] = field(default_factory=dict, init=False, repr=False, compare=False)

    @cached_property
    def sentence_table(self) -> SentenceTable:
        """Section bounds, quoted lengths and the term index of every sentence (see search.SentenceTable)."""
        return self.saved_sentence_table or SentenceTable.build(self, self.keyword.terms)

    @property
    def searched_exactly(self) -> bool:
        """Whether every passage and sentence vector is scored for each question: below the approximate
        threshold. Past it there is no sentence index (an approximate one would cost some 400 bytes per
        sentence): the approximate passage index is searched, and sentences are scored for candidates only."""
        return self.approximate_passages is None

    def windows(self, limit: int) -> PassageWindows | None:
        """The quote windows of every passage for quotes of at most ``limit`` characters, made once, for a
        collection searched exactly: each search then only selects its candidates'. None for a larger one,
        whose searches make their candidates' windows (all of them would take long to make, and memory)."""
        if not self.searched_exactly:
            return None
        if limit not in self._windows:
            passages = np.arange(len(self.passages))
            self._windows[limit] = PassageWindows.build(self.sentence_table, self.sentence_vectors, passages, limit)
        return self._windows[limit]

    @cached_property
    def sentence_starts(self) -> np.ndarray:
        """Row of each passage's first sentence in ``sentence_vectors``."""
        counts = np.fromiter((len(p.sentences) for p in self.passages), dtype=np.int64, count=len(self.passages))
        return np.concatenate(([0], np.cumsum(counts)[:-1])) if len(counts) else counts

    @cached_property
    def article_rows(self) -> dict[str, tuple[int, int]]:
        """For each article, the [first, last) range of its passages."""
        rows: dict[str, tuple[int, int]] = {}
        for row, passage in enumerate(self.passages):
            first, _ = rows.get(passage.article_id, (row, row))
            rows[passage.article_id] = (first, row + 1)
        return rows

    def passage_count(self, article_id: str) -> int:
        first, last = self.article_rows.get(article_id, (0, 0))
        return last - first

    @property
    def is_empty(self) -> bool:
        return not self.passages
