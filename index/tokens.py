"""The tokenized form of a collection, kept per article so that an update only tokenizes what changed.

Terms are what bm25s.tokenize makes of a text (lower case, its token pattern, its English stop words, Snowball
stemming). Every term has an id in a vocabulary that only grows while a collection is updated: the ids of an
unchanged article's terms stay valid, so its rows are reused as they are (a full build starts a new vocabulary).
An article's passages and sentences are contiguous rows, so its part of every array is one range, and the
collection after an update is assembled from the old arrays and the changed articles' with a few vectorized
gathers (``TokenizedCollection.take``). The keyword index (BM25) and the sentence table are made from these
arrays (keyword.KeywordIndex.from_tokens, search.SentenceTable.from_tokens), and the index folder saves them."""
from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .records import Article, Passage
from .search import PAIR_SHIFT, QUESTION_WORDS, expand_ranges
from .text import collapse_whitespace

# bm25s.tokenize's default token pattern: words of two or more word characters.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


@functools.cache
def english_stopwords() -> frozenset[str]:
    """The stop words bm25s.tokenize drops for stopwords="en"."""
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@functools.cache
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def text_words(text: str) -> list[str]:
    """The words of ``text`` that become terms: lower case, bm25s's token pattern, stop words left out."""
    stopwords = english_stopwords()
    return [word for word in _TOKEN.findall(text.lower()) if word not in stopwords]


def stem_words(words: list[str]) -> list[str]:
    return _stemmer().stemWords(words) if words else []


# Question words and their terms (None for a stop word): every search tokenizes its question, and a dict lookup
# per word is cheaper than the stop word check and the stemmer's call. Emptied when full (questions are anyone's
# text); a plain dict, as a search thread may read it while another fills it.
_QUESTION_WORD_TERMS: dict[str, str | None] = {}
_QUESTION_WORD_TERMS_LIMIT = 1 << 16
_UNSEEN = object()


def question_terms(text: str) -> list[str]:
    """The terms of one text, as ``text_terms`` makes them, each word's remembered (see _QUESTION_WORD_TERMS)."""
    known = _QUESTION_WORD_TERMS
    terms = []
    for word in _TOKEN.findall(text.lower()):
        term = known.get(word, _UNSEEN)
        if term is _UNSEEN:
            if len(known) >= _QUESTION_WORD_TERMS_LIMIT:
                known.clear()
            term = known[word] = None if word in english_stopwords() else _stemmer().stemWord(word)
        if term is not None:
            terms.append(term)
    return terms


def text_terms(texts: Sequence[str]) -> list[list[str]]:
    """The terms of each text, as bm25s.tokenize makes them; each distinct word is stemmed once."""
    words = [text_words(text) for text in texts]
    distinct = list({word: None for text in words for word in text})
    stems = dict(zip(distinct, stem_words(distinct)))
    return [[stems[word] for word in text] for text in words]


@functools.cache
def question_word_terms() -> frozenset[str]:
    """The terms QUESTION_WORDS become (most are stop words and become none)."""
    return frozenset(term for terms in text_terms(sorted(QUESTION_WORDS)) for term in terms)


def offsets(counts: np.ndarray) -> np.ndarray:
    """Where each of consecutive runs of ``counts`` rows starts: [0, counts[0], counts[0] + counts[1], ...]."""
    starts = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return starts


def _take_runs(pointer: np.ndarray, values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The runs of ``rows`` (CSR: row r's values are values[pointer[r]:pointer[r + 1]]), as a new CSR pair."""
    counts = pointer[rows + 1] - pointer[rows]
    return offsets(counts), values[expand_ranges(pointer[rows], counts)]


@dataclass(frozen=True, eq=False)
class TokenizedCollection:
    """Terms of every passage and sentence of a collection, article after article (see the module docstring).

    Variable-length rows are CSR pairs: row r's values are ``values[pointer[r]:pointer[r + 1]]``."""

    vocabulary: dict[str, int]  # term -> id, in id order; never shrinks while a collection is updated
    article_passages: np.ndarray  # per article: its number of passages
    passage_sections: np.ndarray  # per passage: its section's index in its article
    passage_sentences: np.ndarray  # per passage: its number of sentences
    # BM25 documents: each passage's title, section heading and text, as distinct term ids with their counts
    passage_term_pointer: np.ndarray
    passage_term_ids: np.ndarray
    passage_term_counts: np.ndarray
    sentence_lengths: np.ndarray  # per sentence: characters quoted (whitespace collapsed)
    # per sentence: its distinct term ids and distinct adjacent term pair codes, question words left out
    sentence_term_pointer: np.ndarray
    sentence_term_ids: np.ndarray
    sentence_pair_pointer: np.ndarray
    sentence_pair_codes: np.ndarray

    ARRAYS = (
        "article_passages", "passage_sections", "passage_sentences", "passage_term_pointer", "passage_term_ids",
        "passage_term_counts", "sentence_lengths", "sentence_term_pointer", "sentence_term_ids",
        "sentence_pair_pointer", "sentence_pair_codes",
    )

    @property
    def passages(self) -> int:
        return len(self.passage_sentences)

    @property
    def sentences(self) -> int:
        return len(self.sentence_lengths)

    @property
    def passage_first_sentence(self) -> np.ndarray:
        """Row of each passage's first sentence, and the number of sentences at the end."""
        return offsets(self.passage_sentences)

    @property
    def article_first_passage(self) -> np.ndarray:
        """Row of each article's first passage, and the number of passages at the end."""
        return offsets(self.article_passages)

    # -- making -----------------------------------------------------------------------------------------------
    @classmethod
    def empty(cls) -> TokenizedCollection:
        none, start = np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
        return cls({}, none, none, none, start, none, none, none, start, none, start, none)

    @classmethod
    def of(cls, chunked: Iterable[tuple[Article, Sequence[Passage]]], vocabulary: dict[str, int] | None = None) -> TokenizedCollection:
        """Tokenize these articles (each with its passages). ``vocabulary`` is extended with their new terms,
        so pass a copy of one in use; None starts a new one."""
        vocabulary = {} if vocabulary is None else vocabulary
        chunked = list(chunked)
        texts: list[str] = []
        for article, passages in chunked:
            texts.append(article.title)
            texts.extend(article.sections[p.section_index].heading or "" for p in passages)
            texts.extend(article.text[s.start:s.end] for p in passages for s in p.sentences)
        ids = [[vocabulary.setdefault(term, len(vocabulary)) for term in terms] for terms in text_terms(texts)]
        ignored = {vocabulary[t] for t in question_word_terms() if t in vocabulary}
        passage_counts: list[Counter] = []
        sentence_terms: list[list[int]] = []
        sentence_pairs: list[list[int]] = []
        at = 0
        for article, passages in chunked:
            title = ids[at]
            headings = ids[at + 1:at + 1 + len(passages)]
            at += 1 + len(passages)
            for passage, heading in zip(passages, headings):
                counts = Counter(title)
                counts.update(heading)
                for sentence_ids in ids[at:at + len(passage.sentences)]:
                    counts.update(sentence_ids)
                    kept = [i for i in sentence_ids if i not in ignored]
                    sentence_terms.append(sorted(set(kept)))
                    sentence_pairs.append(sorted({a << PAIR_SHIFT | b for a, b in zip(kept, kept[1:])}))
                at += len(passage.sentences)
                passage_counts.append(counts)
        passage_terms = [sorted(counts) for counts in passage_counts]
        every_passage = [p for _, passages in chunked for p in passages]
        return cls(
            vocabulary=vocabulary,
            article_passages=np.array([len(passages) for _, passages in chunked], dtype=np.int64),
            passage_sections=np.array([p.section_index for p in every_passage], dtype=np.int64),
            passage_sentences=np.array([len(p.sentences) for p in every_passage], dtype=np.int64),
            passage_term_pointer=offsets(np.array([len(t) for t in passage_terms], dtype=np.int64)),
            passage_term_ids=np.array([i for t in passage_terms for i in t], dtype=np.int32),
            passage_term_counts=np.array(
                [c[i] for t, c in zip(passage_terms, passage_counts) for i in t], dtype=np.int32
            ),
            sentence_lengths=np.array(
                [len(collapse_whitespace(a.text[s.start:s.end])) for a, ps in chunked for p in ps for s in p.sentences],
                dtype=np.int64,
            ),
            sentence_term_pointer=offsets(np.array([len(t) for t in sentence_terms], dtype=np.int64)),
            sentence_term_ids=np.array([i for t in sentence_terms for i in t], dtype=np.int32),
            sentence_pair_pointer=offsets(np.array([len(p) for p in sentence_pairs], dtype=np.int64)),
            sentence_pair_codes=np.array([c for p in sentence_pairs for c in p], dtype=np.int64),
        )

    # -- updating ---------------------------------------------------------------------------------------------
    def then(self, other: TokenizedCollection) -> TokenizedCollection:
        """This collection's articles followed by ``other``'s, whose vocabulary extends this one's."""
        def joined(name: str) -> np.ndarray:
            mine, theirs = getattr(self, name), getattr(other, name)
            if name.endswith("_pointer"):
                return np.concatenate((mine, theirs[1:] + mine[-1]))
            return np.concatenate((mine, theirs))

        return TokenizedCollection(other.vocabulary, **{name: joined(name) for name in self.ARRAYS})

    def take(self, articles: np.ndarray) -> TokenizedCollection:
        """The collection of the articles at these positions, in this order (each article's rows are one range,
        so this is a few gathers, however many articles there are)."""
        articles = np.asarray(articles, dtype=np.int64)
        passages = expand_ranges(self.article_first_passage[articles], self.article_passages[articles])
        sentences = expand_ranges(self.passage_first_sentence[passages], self.passage_sentences[passages])
        passage_term_pointer, passage_term_ids = _take_runs(self.passage_term_pointer, self.passage_term_ids, passages)
        _, passage_term_counts = _take_runs(self.passage_term_pointer, self.passage_term_counts, passages)
        sentence_term_pointer, sentence_term_ids = _take_runs(self.sentence_term_pointer, self.sentence_term_ids, sentences)
        sentence_pair_pointer, sentence_pair_codes = _take_runs(self.sentence_pair_pointer, self.sentence_pair_codes, sentences)
        return TokenizedCollection(
            vocabulary=self.vocabulary,
            article_passages=self.article_passages[articles],
            passage_sections=self.passage_sections[passages],
            passage_sentences=self.passage_sentences[passages],
            passage_term_pointer=passage_term_pointer,
            passage_term_ids=passage_term_ids,
            passage_term_counts=passage_term_counts,
            sentence_lengths=self.sentence_lengths[sentences],
            sentence_term_pointer=sentence_term_pointer,
            sentence_term_ids=sentence_term_ids,
            sentence_pair_pointer=sentence_pair_pointer,
            sentence_pair_codes=sentence_pair_codes,
        )

    # -- saving -----------------------------------------------------------------------------------------------
    def vocabulary_json(self) -> bytes:
        """The vocabulary as saved: a JSON list of the terms in id order."""
        return json.dumps(list(self.vocabulary), ensure_ascii=False).encode()

    def arrays(self) -> dict[str, np.ndarray]:
        """``ARRAYS`` by name, as saved."""
        return {name: getattr(self, name) for name in self.ARRAYS}

    @classmethod
    def load(cls, vocabulary_file: Path, arrays_file: Path) -> TokenizedCollection:
        """The collection saved as a vocabulary JSON list and an .npz of ``ARRAYS``; ValueError if either is malformed."""
        terms = json.loads(vocabulary_file.read_text(encoding="utf-8"))
        if not isinstance(terms, list):
            raise ValueError("the vocabulary is not a list")
        with np.load(arrays_file, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in cls.ARRAYS}
        collection = cls({term: number for number, term in enumerate(terms)}, **arrays)
        collection.check()
        return collection

    def check(self) -> None:
        """ValueError unless the arrays agree with each other (a saved collection may be damaged)."""
        consistent = (
            int(self.article_passages.sum()) == len(self.passage_sections) == len(self.passage_sentences)
            and int(self.passage_sentences.sum()) == len(self.sentence_lengths)
            and len(self.passage_term_pointer) == self.passages + 1
            and len(self.sentence_term_pointer) == len(self.sentence_pair_pointer) == self.sentences + 1
            and int(self.passage_term_pointer[-1]) == len(self.passage_term_ids) == len(self.passage_term_counts)
            and int(self.sentence_term_pointer[-1]) == len(self.sentence_term_ids)
            and int(self.sentence_pair_pointer[-1]) == len(self.sentence_pair_codes)
            and all(
                not len(ids) or (int(ids.min()) >= 0 and int(ids.max()) < len(self.vocabulary))
                for ids in (self.passage_term_ids, self.sentence_term_ids)
            )
        )
        if not consistent:
            raise ValueError("the tokenized arrays do not agree with each other")

