"""The records the index is made of and the results it gives."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open character range [start, end) in an article's text."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Section:
    """A part of an article under one heading; ``heading`` is None before the first heading."""

    heading: str | None
    start: int  # body only: the heading line itself is not quoted
    end: int


@dataclass(frozen=True, slots=True)
class Article:
    """One loaded article. ``text`` is what offsets point into and what quotes are cut from."""

    id: str  # stable: the file's path relative to the articles folder
    title: str
    source: str  # the file path, or the URL it came from
    text: str
    sections: tuple[Section, ...]
    content_hash: str
    url: str | None = None
    date: str | None = None


@dataclass(frozen=True, slots=True)
class Passage:
    """A run of whole sentences inside one section, sized for the embedding model."""

    article_id: str
    section_index: int
    start: int
    end: int
    sentences: tuple[Span, ...]


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One quoted passage, ready to show."""

    article_id: str
    article: str  # the article's title
    section: str | None
    source: str
    url: str | None
    quote: str  # verbatim excerpt (whitespace collapsed), at most the quote limit
    highlight: str  # the sentence of ``quote`` that best answers
    # What the results are ranked by (higher is better), on no fixed scale: it says nothing on its own, nor beside
    # ArticleIndex.min_score (Answer.answered says whether the articles answer).
    score: float
    start: int  # character offsets of the quote in the article's text
    end: int
    # The quote starts (ends) inside a sentence, whose beginning (rest) is left out: one too long to quote whole.
    cut_before: bool = False
    cut_after: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    """What a question gets: ranked results, and whether they answer it at all."""

    question: str
    answered: bool
    results: tuple[SearchResult, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class ArticleSummary:
    """What is indexed for one article (for listings such as /sources)."""

    id: str
    title: str
    source: str
    url: str | None
    sections: tuple[str | None, ...]
    passages: int
    indexed_at: float
