"""An immutable, searchable state of the index: articles, passages, vectors and their tokenized form.

Updates build a new snapshot and swap it in, so a search always sees one consistent state. What searches need
besides the records and vectors (the keyword index, the sentence table, the quote windows) is made from the
tokenized form with vectorized passes; an update carries the quote windows of unchanged articles over."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain

import numpy as np

from .dense import QUANTIZED_FROM_PASSAGES, QuantizedCosines, QuantizedRows
from .keyword import KeywordIndex
from .records import Article, Passage, Span
from .search import PassageWindows, SentenceTable
from .tokens import TokenizedCollection
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
    tokens: TokenizedCollection  # the articles' terms, in the order of ``articles``
    # Past vectors.APPROXIMATE_THRESHOLD passages, the approximate FAISS index the first stage searches.
    approximate_passages: VectorIndex | None = None
    # PassageWindows of every passage, by quote limit (see ``windows``)
    _windows: dict[int, PassageWindows] = field(default_factory=dict, init=False, repr=False, compare=False)

    @cached_property
    def keyword(self) -> KeywordIndex:
        """BM25 over the passages (with their article title and section heading)."""
        return KeywordIndex.from_tokens(self.tokens)

    @cached_property
    def sentence_table(self) -> SentenceTable:
        """Section bounds, quoted lengths and the term index of every sentence (see search.SentenceTable)."""
        return SentenceTable(self.tokens)

    @cached_property
    def quantized_cosines(self) -> QuantizedCosines | None:
        """The 4-bit copy of every passage vector that a collection searched exactly ranks passages by (dense.py);
        None for a larger collection, or one so small that float32 is as fast."""
        if not self._scored_from_codes:
            return None
        return QuantizedCosines.of(self.passage_vectors)

    @property
    def _scored_from_codes(self) -> bool:
        return self.searched_exactly and len(self.passages) >= QUANTIZED_FROM_PASSAGES

    @property
    def searched_exactly(self) -> bool:
        """Whether every passage vector is scored for each question: below the approximate threshold. Past it
        the approximate passage index is searched instead. Either way sentences are scored for the candidates'
        quote windows only."""
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

    def carry_over(self, previous: IndexSnapshot, previous_rows: np.ndarray) -> None:
        """Make this snapshot's quote windows and 4-bit vectors from ``previous``'s where a passage is unchanged:
        ``previous_rows`` holds each passage's row there (-1 for a new one)."""
        if self.searched_exactly and previous.searched_exactly:
            self._carry_windows(previous, previous_rows)
            self._carry_quantized(previous, previous_rows)

    def _carry_quantized(self, previous: IndexSnapshot, previous_rows: np.ndarray) -> None:
        # An unchanged passage's vector is the old one: so are its codes.
        old = previous.__dict__.get("quantized_cosines")  # (made, if at all, by the cached property)
        if old is None or not self._scored_from_codes:
            return
        # set as the cached property would be (a frozen dataclass keeps its cached values in __dict__)
        carried = QuantizedRows.carried(old.passage_rows, previous_rows, self.passage_vectors)
        self.__dict__["quantized_cosines"] = QuantizedCosines(carried, self.dimension)

    def _carry_windows(self, previous: IndexSnapshot, previous_rows: np.ndarray) -> None:
        # Windows never leave a section, so an unchanged passage's are the old ones moved to its new rows; only
        # new passages' windows are made.
        table, old_table = self.sentence_table, previous.sentence_table
        kept = np.flatnonzero(previous_rows >= 0)
        for limit, old_windows in previous._windows.items():
            moved = old_windows.select(previous_rows[kept])
            passage_shift = (kept - previous_rows[kept])[moved.owner]
            sentence_shift = (table.passage_first[kept] - old_table.passage_first[previous_rows[kept]])[moved.owner]
            made = PassageWindows.build(table, self.sentence_vectors, np.flatnonzero(previous_rows < 0), limit)
            passage = np.concatenate((moved.passage + passage_shift, made.passage))
            order = np.argsort(passage, kind="stable")  # both parts are in passage order: a merge
            passage = passage[order]
            self._windows[limit] = PassageWindows(
                pointer=np.searchsorted(passage, np.arange(len(self.passages) + 1)),
                owner=passage,
                passage=passage,
                first=np.concatenate((moved.first + sentence_shift, made.first))[order],
                last=np.concatenate((moved.last + sentence_shift, made.last))[order],
                outside=np.concatenate((moved.outside, made.outside))[order],
                norm=np.concatenate((moved.norm, made.norm))[order],
            )

    @cached_property
    def sentence_spans(self) -> tuple[Span, ...]:
        """Every sentence's span in its article, by sentence row (passage by passage)."""
        return tuple(chain.from_iterable(passage.sentences for passage in self.passages))

    @cached_property
    def article_rows(self) -> dict[str, tuple[int, int]]:
        """For each article, the [first, last) range of its passages."""
        starts = self.tokens.article_first_passage.tolist()
        return {article_id: (starts[n], starts[n + 1]) for n, article_id in enumerate(self.articles)}

    def passage_count(self, article_id: str) -> int:
        first, last = self.article_rows.get(article_id, (0, 0))
        return last - first

    @property
    def is_empty(self) -> bool:
        return not self.passages
