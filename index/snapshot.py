"""An immutable, searchable state of the index: articles, passages, vectors and the keyword index.

Updates build a new snapshot and swap it in, so a search always sees one consistent state."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .keyword import KeywordIndex
from .records import Article, Passage
from .search import SentenceTable
from .vectors import ExactIndex, VectorIndex


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

    @cached_property
    def sentence_table(self) -> SentenceTable:
        """Section bounds, quoted lengths and the term index of every sentence (see search.SentenceTable)."""
        return self.saved_sentence_table or SentenceTable.build(self, self.keyword.terms)

    @cached_property
    def passage_index(self) -> VectorIndex:
        """The passage index the first stage searches: approximate for large collections, exact otherwise."""
        return self.approximate_passages or ExactIndex(self.passage_vectors)

    @cached_property
    def sentence_index(self) -> VectorIndex | None:
        """Exact search over every sentence while the collection is small. Large collections have none: an
        approximate sentence index would cost some 400 bytes per sentence, so there sentences are scored
        for the candidate passages only."""
        return None if self.approximate_passages is not None else ExactIndex(self.sentence_vectors)

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
