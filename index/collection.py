"""ArticleIndex: the one object to index, update, search, save and load a collection of articles."""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from .embedding import Embedder, EmbedderSpec
from .errors import AmbiguousArticle, ArticlesFolderError, IncompatibleIndex, IndexStoreError, InvalidQuestion, UnknownArticle
from .loaders import load_folder
from .passages import chunk_article
from .quotes import QUOTE_LIMIT, QuoteWindow, cut_quote, focus_span, quote_text
from .records import Answer, Article, ArticleSummary, Passage, SearchResult, Span
from .search import (
    WINDOW_FEATURES,
    FusionWeights,
    PassageWindows,
    Windows,
    best_passages,
    choose_windows,
    dot,
    expand_ranges,
    highlight_rows,
    kth_highest,
    row_cosines,
    score_windows,
)
from .snapshot import IndexSnapshot
from .store import load_snapshot, save_snapshot
from .text import collapse_whitespace
from .tokens import TokenizedCollection
from .vectors import APPROXIMATE_THRESHOLD, ApproximateIndex

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_QUESTION_CHARS = 1000
DEFAULT_TOP_K = 3
# A question counts as answered when the top quote's best sentence has at least this cosine similarity to it,
# plus ANSWER_TERM_WEIGHT times the IDF-weighted share of the question's terms the quote holds. Calibrated with
# bench/quality.py --abstention (half the SQuAD articles indexed, the other half's questions asked): it abstains on
# about 3% of answerable questions and quotes something for about 8% of unanswerable ones.
DEFAULT_MIN_SCORE = 0.55
ANSWER_TERM_WEIGHT = 0.25
# A quote after the first is given only if that same signal is at most this much below the first's: weaker ones
# are mostly about something else. On the 3,055 SQuAD questions (bench/quality.py): answer-hit@3 97.0 % with or
# without it, @5 97.9 against 98.0 %, and 2.2 quotes instead of 3 for an answered question at the default top 3.
DEFAULT_QUOTE_MARGIN = 0.25
# How many passages the first stage hands to window scoring.
CANDIDATE_PASSAGES = 20
# Past the approximate threshold: how many nearest passages and best BM25 passages each add to the pool the
# first stage ranks.
POOL_PER_SIGNAL = 100


def passage_context(article: Article, passage: Passage) -> str:
    """What the model embeds for a passage: the article's title and section heading, then the passage."""
    heading = article.sections[passage.section_index].heading
    return "\n".join(part for part in (article.title, heading, article.text[passage.start:passage.end]) if part)


def sentence_context(article: Article, sentence: Span) -> str:
    """What the model embeds for a sentence: the sentence after its article's title."""
    return f"{article.title}: {article.text[sentence.start:sentence.end]}"


@dataclass(frozen=True, slots=True)
class QuestionCosines:
    """The question's cosine similarity with passages, by row, and the vectors it is computed from. When the
    whole of a collection searched exactly is searched, every passage's is computed up front (one product over
    all of them costs less than the FAISS search and the row gathers it replaces, and each later look-up is an
    index): past a few hundred passages from the 4-bit copy of the vectors (see dense.py), whose cosines are
    ``rough``: they rank the passages, and ``passages`` computes the candidates' again. Otherwise they are
    computed in float32 for the rows asked. Sentences are scored by score_windows: only its candidates'."""

    question_vector: np.ndarray
    passage_vectors: np.ndarray
    sentence_vectors: np.ndarray
    every_passage: np.ndarray | None = None
    rough: bool = False

    @classmethod
    def of(cls, snapshot: IndexSnapshot, question_vector: np.ndarray, every: bool) -> QuestionCosines:
        question_vector = np.asarray(question_vector, dtype=np.float32)
        passage_vectors, sentence_vectors = snapshot.passage_vectors, snapshot.sentence_vectors
        if not (every and snapshot.searched_exactly and len(snapshot.passages)):
            return cls(question_vector, passage_vectors, sentence_vectors)
        quantized = snapshot.quantized_cosines
        if quantized is not None:
            return cls(question_vector, passage_vectors, sentence_vectors, quantized.scores(question_vector), rough=True)
        return cls(question_vector, passage_vectors, sentence_vectors, dot(passage_vectors, question_vector))

    def passages(self, rows: np.ndarray) -> np.ndarray:
        """The float32 cosines of the passages of ``rows``."""
        if self.every_passage is not None and not self.rough:
            return self.every_passage[rows]
        return row_cosines(self.passage_vectors, rows, self.question_vector)


@dataclass(frozen=True, slots=True)
class UpdateReport:
    """What an update changed, for the build summary and the /reload reply."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: int = 0
    skipped: tuple[tuple[str, str], ...] = ()
    articles: int = 0
    sections: int = 0
    passages: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    @classmethod
    def between(
        cls,
        old: Mapping[str, Article],
        new: Sequence[Article],
        passages: int,
        seconds: float,
        skipped: Iterable[tuple[str, str]] = (),
    ) -> UpdateReport:
        """What changed from the ``old`` collection (by id) to the ``new`` one."""
        changed = changed_articles(old, new)
        new_ids = {a.id for a in new}
        return cls(
            added=tuple(a.id for a in changed if a.id not in old),
            updated=tuple(a.id for a in changed if a.id in old),
            removed=tuple(i for i in old if i not in new_ids),
            unchanged=len(new) - len(changed),
            skipped=tuple(skipped),
            articles=len(new),
            sections=sum(len(a.sections) for a in new),
            passages=passages,
            seconds=seconds,
        )


def changed_articles(old: Mapping[str, Article], new: Iterable[Article]) -> list[Article]:
    """The articles of ``new`` that ``old`` lacks or holds with other content. The hash says so for articles
    loaded from files; one made in code with a stale hash still counts as changed when its text does."""
    return [
        a for a in new
        if (kept := old.get(a.id)) is None or kept.content_hash != a.content_hash
        or (kept is not a and (kept.text, kept.title, kept.sections) != (a.text, a.title, a.sections))
    ]


# the columns of the window features that say how well a quote answers (with ANSWER_TERM_WEIGHT)
_BEST_SENTENCE, _TERMS = WINDOW_FEATURES.index("best_sentence"), WINDOW_FEATURES.index("terms")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _find_article(articles: Iterable[Article], name: str, prefix: bool = True) -> str:
    """ArticleIndex.find_article over these articles."""
    wanted = str(name).strip().casefold()
    articles = list(articles)
    if not wanted:
        raise UnknownArticle("No article was named.")
    for article in articles:  # an id names one article
        if wanted == article.id.casefold():
            return article.id
    stages = [[a.id for a in articles if wanted in (a.title.casefold(), Path(a.id).stem.casefold(), Path(a.id).name.casefold())]]
    if prefix:
        stages.append([a.id for a in articles if a.title.casefold().startswith(wanted) or a.id.casefold().startswith(wanted)])
    for matches in stages:
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise AmbiguousArticle(f"{name!r} could be any of {len(matches)} articles ({listed_names(matches)}): give its file name.")
    raise UnknownArticle(f"No indexed article is called {name!r}.")


def listed_names(names: Sequence[str], shown: int = 5) -> str:
    """The first ``shown`` names, comma separated, and an ellipsis if there are more."""
    return ", ".join(names[:shown]) + (", …" if len(names) > shown else "")


def _each(items: Iterable[T] | T, kind: type[T]) -> list[T]:
    """``items`` as a list; one item on its own (an article, or an id, a string being iterable) as a list of it."""
    if isinstance(items, kind):
        return [items]
    listed = list(items)  # type: ignore[arg-type]
    wrong = next((item for item in listed if not isinstance(item, kind)), None)
    if wrong is not None:
        raise TypeError(f"expected {kind.__name__} items, got {type(wrong).__name__}")
    return listed


def validate_question(question: str, max_chars: int = MAX_QUESTION_CHARS) -> str:
    """The question with whitespace collapsed; InvalidQuestion if it is empty, too long or not text."""
    if question is not None and not isinstance(question, str):
        raise InvalidQuestion(f"The question must be text, not {type(question).__name__}.")
    # Bytes that were not UTF-8 (a terminal's, kept by Python as lone surrogates) become U+FFFD, as a decoder
    # replacing errors would have made them: the tokenizer cannot take them, and the rest may be a fine question.
    cleaned = collapse_whitespace(_LONE_SURROGATE.sub("\ufffd", question or ""))
    if not cleaned:
        raise InvalidQuestion("The question is empty: type what you want to know.")
    if len(cleaned) > max_chars:
        raise InvalidQuestion(f"The question is {len(cleaned):,} characters long; please keep it under {max_chars:,}.")
    return cleaned


@dataclass
class ArticleIndex:
    """A searchable collection of articles (txtai-style: index / upsert / delete / search / save / load).

    Updates build a new snapshot off to the side and swap it in with one assignment, so searches running
    at the same time see either the old index or the new one, never a mix."""

    embedder_source: Embedder | EmbedderSpec = field(default_factory=EmbedderSpec)
    weights: FusionWeights = field(default_factory=FusionWeights)
    min_score: float = DEFAULT_MIN_SCORE
    # None: every quote up to top_k, however weak beside the first (see DEFAULT_QUOTE_MARGIN)
    quote_margin: float | None = DEFAULT_QUOTE_MARGIN
    quote_limit: int = QUOTE_LIMIT
    show_progress: bool = False
    # From this many passages on, the first stage searches an approximate FAISS index (see index/vectors.py).
    approximate_threshold: int = APPROXIMATE_THRESHOLD
    _snapshot: IndexSnapshot | None = field(default=None, init=False, repr=False)
    _embedder: Embedder | None = field(default=None, init=False, repr=False)
    _embedder_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _update_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _saved: IndexSnapshot | None = field(default=None, init=False, repr=False)  # the snapshot last saved or loaded

    # -- the model -------------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return self.embedder_source.model_id

    @property
    def embedder(self) -> Embedder:
        """Loaded on first use, so listing or loading an index does not wait for the model."""
        if self._embedder is None:
            with self._embedder_lock:
                if self._embedder is None:
                    source = self.embedder_source
                    self._embedder = source if isinstance(source, Embedder) else source.load()
        return self._embedder

    # -- state -------------------------------------------------------------------------------------
    @property
    def snapshot(self) -> IndexSnapshot | None:
        return self._snapshot

    @property
    def is_empty(self) -> bool:
        return self._snapshot is None or self._snapshot.is_empty

    def articles(self) -> list[Article]:
        return list(self._snapshot.articles.values()) if self._snapshot else []

    def summaries(self) -> list[ArticleSummary]:
        snapshot = self._snapshot
        if snapshot is None:
            return []
        return [
            ArticleSummary(
                id=article.id,
                title=article.title,
                source=article.source,
                url=article.url,
                sections=tuple(s.heading for s in article.sections),
                passages=snapshot.passage_count(article.id),
                indexed_at=snapshot.indexed_at[article.id],
            )
            for article in snapshot.articles.values()
        ]

    def find_article(self, name: str, *, prefix: bool = True) -> str:
        """The id of the article named by id, file name or title (case-insensitive; a unique prefix will do,
        unless not ``prefix``). UnknownArticle if none is; AmbiguousArticle if several are and the name does
        not say which."""
        return _find_article(self.articles(), name, prefix)

    def matching_articles(self, typed: str, limit: int = 25) -> list[Article]:
        """Articles whose title or id contains the typed text, for autocomplete."""
        typed = typed.strip().casefold()
        hits = [a for a in self.articles() if typed in a.title.casefold() or typed in a.id.casefold()]
        return sorted(hits, key=lambda a: (not a.title.casefold().startswith(typed), a.title.casefold()))[:limit]

    # -- building ----------------------------------------------------------------------------------
    def _embed_articles(self, articles: list[Article]) -> dict[str, tuple[list[Passage], np.ndarray, np.ndarray]]:
        """Chunk and embed new or changed articles, in one batch so the model works in large batches."""
        if not articles:
            return {}
        embedder = self.embedder
        chunked = {a.id: chunk_article(a, embedder.count_tokens) for a in articles}
        by_id = {a.id: a for a in articles}
        passage_texts, sentence_texts = [], []
        for article_id, passages in chunked.items():
            article = by_id[article_id]
            for passage in passages:
                passage_texts.append(passage_context(article, passage))
                sentence_texts.extend(sentence_context(article, s) for s in passage.sentences)
        vectors = self.embedder.encode(passage_texts + sentence_texts, show_progress=self.show_progress)
        passage_vectors, sentence_vectors = vectors[: len(passage_texts)], vectors[len(passage_texts):]
        result: dict[str, tuple[list[Passage], np.ndarray, np.ndarray]] = {}
        p_row = s_row = 0
        for article_id, passages in chunked.items():
            sentences = sum(len(p.sentences) for p in passages)
            result[article_id] = (
                passages,
                passage_vectors[p_row:p_row + len(passages)],
                sentence_vectors[s_row:s_row + sentences],
            )
            p_row += len(passages)
            s_row += sentences
        return result

    def _rebuild(
        self, wanted_of: Callable[[Mapping[str, Article]], list[Article]], skipped: Iterable[tuple[str, str]] = ()
    ) -> UpdateReport:
        """Make ``wanted_of(current articles)`` the whole collection: worked out under the update lock, so that
        updates from several threads each build on the one before. Only new or changed articles are chunked,
        embedded and tokenized; the others' vectors, terms and quote windows are taken over from the current
        snapshot."""
        started = time.perf_counter()
        with self._update_lock:  # one rebuild at a time; searches go on against the current snapshot
            old = self._snapshot
            old_articles = old.articles if old else {}
            wanted = wanted_of(old_articles)
            changed = changed_articles(old_articles, wanted)
            if old is not None and not changed and list(old_articles) == [a.id for a in wanted] and all(
                old_articles[a.id] is a or old_articles[a.id] == a for a in wanted
            ):
                # nothing at all to change: the snapshot serving (and saved, if it was) stays as it is
                return UpdateReport.between(old_articles, wanted, len(old.passages), time.perf_counter() - started, skipped)
            fresh = self._embed_articles(changed)
            reused = old is not None and len(changed) < len(wanted)
            # A full build starts a new vocabulary; an update extends a copy of the current one, so the term ids
            # of unchanged articles stay valid.
            old_tokens = old.tokens if reused else TokenizedCollection.empty()
            fresh_tokens = TokenizedCollection.of(
                ((a, fresh[a.id][0]) for a in changed), dict(old_tokens.vocabulary) if reused else None
            )
            old_position = {article_id: n for n, article_id in enumerate(old_articles)} if reused else {}
            fresh_position = {a.id: len(old_tokens.article_passages) + n for n, a in enumerate(changed)}
            tokens = old_tokens.then(fresh_tokens).take(
                np.array([fresh_position.get(a.id, old_position.get(a.id)) for a in wanted], dtype=np.int64)
            )
            old_first_passage, old_first_sentence = old_tokens.article_first_passage, old_tokens.passage_first_sentence
            now = time.time()
            passages: list[Passage] = []
            passage_blocks, sentence_blocks = [], []
            previous_rows = []  # per article: its passages' first row in the old snapshot, or -1 if new
            indexed_at: dict[str, float] = {}
            for article in wanted:
                if article.id in fresh:
                    article_passages, p_vectors, s_vectors = fresh[article.id]
                    indexed_at[article.id] = now
                    previous_rows.append(-1)
                else:
                    assert old is not None
                    position = old_position[article.id]
                    first, last = int(old_first_passage[position]), int(old_first_passage[position + 1])
                    s_first, s_last = int(old_first_sentence[first]), int(old_first_sentence[last])
                    article_passages = old.passages[first:last]
                    p_vectors, s_vectors = old.passage_vectors[first:last], old.sentence_vectors[s_first:s_last]
                    indexed_at[article.id] = old.indexed_at[article.id]
                    previous_rows.append(first)
                passages.extend(article_passages)
                passage_blocks.append(p_vectors)
                sentence_blocks.append(s_vectors)
            dimension = self.embedder.dimension if changed or old is None else old.dimension
            empty = np.zeros((0, dimension), dtype=np.float32)
            passage_vectors = np.concatenate(passage_blocks) if passage_blocks else empty
            snapshot = IndexSnapshot(
                model_id=self.model_id,
                dimension=dimension,
                articles={a.id: a for a in wanted},
                indexed_at=indexed_at,
                passages=tuple(passages),
                passage_vectors=passage_vectors,
                sentence_vectors=np.concatenate(sentence_blocks) if sentence_blocks else empty,
                tokens=tokens,
                approximate_passages=self._approximate_index(passage_vectors),
            )
            if reused:
                assert old is not None
                first_rows = np.array(previous_rows, dtype=np.int64)
                rows = expand_ranges(np.maximum(first_rows, 0), tokens.article_passages)
                rows[np.repeat(first_rows < 0, tokens.article_passages)] = -1
                snapshot.carry_over(old, rows)
            self._install(snapshot)
        return UpdateReport.between(old_articles, wanted, len(passages), time.perf_counter() - started, skipped)

    def index(self, articles: Iterable[Article]) -> UpdateReport:
        """Make exactly these articles the collection."""
        given = list({a.id: a for a in _each(articles, Article)}.values())
        return self._rebuild(lambda current: given)

    def upsert(self, articles: Iterable[Article]) -> UpdateReport:
        """Add new articles and replace changed ones; others stay."""
        given = {a.id: a for a in _each(articles, Article)}
        return self._rebuild(lambda current: list({**current, **given}.values()))

    def delete(self, article_ids: Iterable[str]) -> UpdateReport:
        """Remove articles by id (one id, or several); unknown ids are ignored."""
        gone = set(_each(article_ids, str))
        return self._rebuild(lambda current: [a for a in current.values() if a.id not in gone])

    def sync_folder(self, folder: str | os.PathLike[str], allow_empty: bool = False) -> UpdateReport:
        """Make the collection match the articles folder. Refuses (and keeps the index) if none can be read,
        unless ``allow_empty``: for a folder only the bot fills, no articles means an empty collection."""
        folder = Path(folder)
        loaded = load_folder(folder, known=self._snapshot.articles if self._snapshot else None)
        if not loaded.articles and not allow_empty:
            reasons = "; ".join(reason for _, reason in loaded.skipped[:3])
            raise ArticlesFolderError(
                f"No readable articles in {folder}" + (f" ({reasons})." if reasons else " (the folder is empty).")
            )
        return self._rebuild(lambda current: loaded.articles, loaded.skipped)

    # -- persistence -------------------------------------------------------------------------------
    def save(self, index_dir: str | os.PathLike[str]) -> None:
        """Save the collection to the folder as a new version (see store.py); IndexStoreError if it cannot be
        written, or if nothing has been indexed yet."""
        snapshot = self._snapshot
        if snapshot is None:
            raise IndexStoreError("Nothing to save: nothing has been indexed yet.")
        save_snapshot(snapshot, Path(index_dir))
        self._saved = snapshot

    @property
    def unsaved(self) -> bool:
        """Whether the collection has changed since it was last saved or loaded."""
        return self._snapshot is not None and self._snapshot is not self._saved

    def load(self, index_dir: str | os.PathLike[str]) -> bool:
        """Load the saved index; False if there is none. Raises IndexStoreError if it is unusable."""
        with self._update_lock:  # not in the middle of an update, which would then undo it
            snapshot = load_snapshot(Path(index_dir), self.model_id)
            if snapshot is None:
                return False
            if (snapshot.approximate_passages is None) != (len(snapshot.passages) < self.approximate_threshold):
                # saved with another threshold: follow this index's (building the approximate index if need be)
                snapshot = replace(snapshot, approximate_passages=self._approximate_index(snapshot.passage_vectors))
            self._install(snapshot)
            self._saved = snapshot
        return True

    def _restore(self, snapshot: IndexSnapshot | None) -> None:
        """Serve ``snapshot`` (an earlier one of this index) again, or nothing."""
        with self._update_lock:
            if snapshot is None:
                self._snapshot = None
            else:
                self._install(snapshot)

    def _approximate_index(self, passage_vectors: np.ndarray) -> ApproximateIndex | None:
        """The approximate passage index for a collection past the threshold; None below it (exact search)."""
        if len(passage_vectors) < self.approximate_threshold:
            return None
        return ApproximateIndex.build(passage_vectors)

    def _install(self, snapshot: IndexSnapshot) -> None:
        """Make ``snapshot`` the one searched, once all its searches need is ready: the sentence table, the
        quote windows, the 4-bit copy of the passage vectors and the sentence spans. (A snapshot with an
        approximate index has imported FAISS when building or opening it, so the first question never waits for
        that import, which would hold up the bot's event loop.)"""
        _ = snapshot.sentence_table, snapshot.windows(self.quote_limit), snapshot.quantized_cosines, snapshot.sentence_spans
        self._snapshot = snapshot

    # -- searching ---------------------------------------------------------------------------------
    def search(
        self, question: str, top_k: int = DEFAULT_TOP_K, article: str | None = None, question_vector: np.ndarray | None = None
    ) -> Answer:
        """Ranked quotes for a question. ``article`` (id or title) narrows the search to one article."""
        cleaned = validate_question(question)
        snapshot = self._snapshot  # one snapshot for the whole search, even if an update swaps it meanwhile
        if snapshot is None or snapshot.is_empty:
            return Answer(cleaned, False)
        allowed = snapshot.article_rows[_find_article(snapshot.articles.values(), article)] if article else None
        if question_vector is None:  # the bot passes one, encoded together with other questions
            question_vector = self.embedder.encode([cleaned])[0]
        if len(question_vector) != snapshot.dimension:
            raise IncompatibleIndex(
                f"The index holds {snapshot.dimension}-dimensional vectors and the model makes {len(question_vector)}: "
                "it was built with another model. Build it again."
            )
        return self._answer(snapshot, cleaned, question_vector, max(1, int(top_k)), allowed)

    def _pool(
        self, snapshot: IndexSnapshot, cosines: QuestionCosines, keyword: np.ndarray, allowed: tuple[int, int] | None
    ) -> np.ndarray | None:
        """The passages the first stage ranks, ascending; None for every passage. A collection searched exactly
        ranks every passage: each one's cosines are known, so gathering a shortlist first would only add work.
        Past the threshold, the approximate FAISS index's nearest passages and the best by BM25; searching one
        article, all of its passages."""
        if allowed is not None:
            return np.arange(*allowed)
        if cosines.every_passage is not None:
            return None
        assert snapshot.approximate_passages is not None
        # (the BM25 threshold from the matching passages alone: partitioning the many zeros of the others is slow)
        pooled = keyword > 0
        matching = keyword[pooled]
        if len(matching) > POOL_PER_SIGNAL:
            pooled = keyword >= kth_highest(matching, POOL_PER_SIGNAL)
        nearest = snapshot.approximate_passages.search(cosines.question_vector, POOL_PER_SIGNAL)[1][0]
        pooled[nearest[nearest >= 0]] = True
        return np.flatnonzero(pooled)

    def _windows(
        self, snapshot: IndexSnapshot, question: str, question_vector: np.ndarray, top_k: int,
        allowed: tuple[int, int] | None,
    ) -> Windows | None:
        """Every candidate quote window with its features and score; None if no passage may be searched.
        ``allowed`` limits the search to the passage rows [first, last)."""
        table = snapshot.sentence_table
        cosines = QuestionCosines.of(snapshot, question_vector, every=allowed is None)
        question_terms = snapshot.keyword.query_terms(question)
        keyword = snapshot.keyword.scores(question_terms)
        pool = self._pool(snapshot, cosines, keyword, allowed)
        if pool is None:
            assert cosines.every_passage is not None
            passage_dense, pool_keyword = cosines.every_passage, keyword
        elif len(pool):
            passage_dense, pool_keyword = cosines.passages(pool), keyword[pool]
        else:
            return None
        # BM25 relative to the best passage's, as a scale: only the candidates' relative scores are made
        best_keyword = float(np.maximum.reduce(keyword)) if keyword.size else 0.0
        keyword_scale = 1.0 / best_keyword if best_keyword > 0 else 0.0
        chosen = best_passages(passage_dense, pool_keyword, keyword_scale, self.weights, max(top_k, CANDIDATE_PASSAGES))
        candidates = chosen if pool is None else pool[chosen]
        windows = snapshot.windows(self.quote_limit)
        if windows is not None:  # every passage's, made once: a candidate's position among them is its row
            positions = candidates
        else:  # past the approximate threshold: the candidates' alone, made now
            windows = PassageWindows.build(table, snapshot.sentence_vectors, candidates, self.quote_limit)
            positions = np.arange(len(candidates))
        return score_windows(
            table,
            windows,
            positions,
            np.stack((cosines.passages(candidates) if cosines.rough else passage_dense[chosen],
                      pool_keyword[chosen] * np.float32(keyword_scale)), axis=1),
            cosines.sentence_vectors,
            cosines.question_vector,
            question_terms,
            self.weights,
        )

    def _answer(
        self, snapshot: IndexSnapshot, question: str, question_vector: np.ndarray, top_k: int,
        allowed: tuple[int, int] | None,
    ) -> Answer:
        windows = self._windows(snapshot, question, question_vector, top_k, allowed)
        if windows is None:
            return Answer(question, False)
        chosen = choose_windows(windows, top_k)
        features = windows.features[chosen]
        signals = features[:, _BEST_SENTENCE] + ANSWER_TERM_WEIGHT * features[:, _TERMS]
        answered = bool(signals[0] >= self.min_score)
        if self.quote_margin is not None and len(chosen) > 1:
            chosen = [window for window, signal in zip(chosen, signals.tolist()) if signal >= signals[0] - self.quote_margin]
        results = []
        spans = snapshot.sentence_spans
        firsts, lasts = windows.first[chosen].tolist(), windows.last[chosen].tolist()
        highlights = highlight_rows(windows, chosen, self.weights.highlight_terms)
        for window, first_row, last_row, highlight_row in zip(chosen, firsts, lasts, highlights):
            passage = snapshot.passages[int(windows.passage[window])]
            article = snapshot.articles[passage.article_id]
            span = self.quote_window(snapshot, question, first_row, last_row, highlight_row)
            quote, cut_end = cut_quote(article.text, span, self.quote_limit)
            highlight = quote_text(article.text, span.highlight, self.quote_limit)
            results.append(
                SearchResult(
                    article_id=article.id,
                    article=article.title,
                    section=article.sections[passage.section_index].heading,
                    source=article.source,
                    url=article.url,
                    quote=quote,
                    highlight=highlight if highlight in quote else quote,
                    score=float(windows.scores[window]),
                    start=span.start,
                    end=span.end,
                    cut_before=span.start > spans[first_row].start,
                    cut_after=cut_end or span.end < spans[last_row].end,
                )
            )
        return Answer(question, answered, tuple(results))

    def quote_window(
        self, snapshot: IndexSnapshot, question: str, first_row: int, last_row: int, highlight: int | None = None
    ) -> QuoteWindow:
        """What to quote for the window of sentence rows first_row..last_row, ``highlight`` its best sentence's
        row (None: the first). A window too long to quote whole is one sentence longer than the quote limit
        (several sentences are only put together as far as they fit): its part about the question is quoted,
        not its first words, which rarely hold the answer."""
        table, spans = snapshot.sentence_table, snapshot.sentence_spans
        start, end = spans[first_row].start, spans[last_row].end
        if table.cumulative[last_row + 1] - table.cumulative[first_row] - 1 <= self.quote_limit:
            return QuoteWindow(start, end, spans[first_row if highlight is None else highlight])
        keys, terms = table.query(snapshot.keyword.query_terms(question))
        term_ids = keys[:terms]
        vocabulary = table.vocabulary
        focused = focus_span(
            snapshot.articles[snapshot.passages[int(table.sentence_passage[first_row])].article_id].text,
            Span(start, end),
            self.quote_limit,
            lambda word: [vocabulary.get(term) for term in snapshot.keyword.query_terms(word)],
            dict(zip(term_ids.tolist(), table.idf[term_ids].tolist())),
        )
        return QuoteWindow(focused.start, focused.end, focused)


def refresh_from_folder(index: ArticleIndex, articles_dir: Path, index_dir: Path, allow_empty: bool = False) -> UpdateReport:
    """Bring the index in line with the articles folder and save it if anything changed.

    If the folder cannot be read (or holds no readable article, unless ``allow_empty``), ArticlesFolderError is
    raised, and if the new index cannot be saved, IndexStoreError; either way the index in memory and on disk
    stay as they were."""
    previous = index.snapshot
    report = index.sync_folder(articles_dir, allow_empty)
    # (a failed or missing load leaves the index empty, so every article counts as added)
    if report.changed or index.unsaved:
        try:
            index.save(index_dir)
        except IndexStoreError:
            # What serves is what is saved: an update that cannot be kept is undone (and tried again next time).
            index._restore(previous)
            raise
    return report


def load_saved_index(index: ArticleIndex, index_dir: Path) -> UpdateReport:
    """Make the saved index the collection, never building, repairing or writing one: for processes that
    share an index folder another process builds. The report compares it with the collection it replaced.

    Raises IndexStoreError if there is no saved index or it is unusable; the collection then stays as it was."""
    started = time.perf_counter()
    old = index.snapshot
    if not index.load(index_dir):
        raise IndexStoreError(f"There is no saved index at {index_dir}.")
    new = index.snapshot
    assert new is not None
    return UpdateReport.between(
        old.articles if old else {}, list(new.articles.values()), len(new.passages), time.perf_counter() - started
    )


def open_index(
    index: ArticleIndex, articles_dir: Path, index_dir: Path, allow_empty: bool = False, strict: bool = False
) -> UpdateReport | None:
    """Load the saved index and bring it in line with the articles folder.

    A corrupt index, or one built with another model, is rebuilt from the articles (and said so in the log).
    A missing or unreadable articles folder, or an index folder the update cannot be saved in, leaves a loaded
    index serving as it is; with no index either, ArticlesFolderError or IndexStoreError says what is wrong
    (``allow_empty``: see refresh_from_folder), as it does whenever ``strict``. Returns the update made, or None
    if none was."""
    try:
        index.load(index_dir)
    except IndexStoreError as error:
        logger.warning("%s Rebuilding it from %s.", error, articles_dir)
    try:
        return refresh_from_folder(index, articles_dir, index_dir, allow_empty)
    except (ArticlesFolderError, IndexStoreError) as error:  # (the second: the new index could not be saved)
        if index.is_empty or strict:
            raise
        logger.warning("%s Serving the saved index as it is.", error)
        return None
