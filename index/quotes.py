"""Cutting quotes out of articles. Which window of whole sentences to quote is chosen in search.py
(candidate_windows, score_windows, choose_windows)."""
from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from itertools import accumulate

from .records import Span
from .text import collapse_whitespace

QUOTE_LIMIT = 600

# a word as collapse_whitespace leaves it: a run of non-whitespace (``\s`` is what str.split breaks at)
_WORD = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class QuoteWindow:
    """Character offsets of the quote and of its best sentence in the article's text."""

    start: int
    end: int
    highlight: Span


def quote_text(text: str, span: Span | QuoteWindow, limit: int = QUOTE_LIMIT) -> str:
    """The verbatim quote for a span (whitespace collapsed); cut at the last word that fits if still too long."""
    return cut_quote(text, span, limit)[0]


def cut_quote(text: str, span: Span | QuoteWindow, limit: int = QUOTE_LIMIT) -> tuple[str, bool]:
    """``quote_text``, and whether it had to cut the span's end off to fit ``limit``."""
    quote = collapse_whitespace(text[span.start:span.end])
    if len(quote) <= limit:
        return quote, False
    cut = quote.rfind(" ", 0, limit + 1)
    return quote[: cut if cut > 0 else limit].rstrip(), True


def focus_span(
    text: str,
    span: Span,
    limit: int,
    word_terms: Callable[[str], Iterable[Hashable]],
    weights: Mapping[Hashable, float],
) -> Span:
    """The part of ``span`` to quote when all of it does not fit ``limit`` (a sentence longer than the limit):
    the run of its whole words that fits and holds the most weight of distinct terms (``word_terms`` gives a
    word's terms, ``weights`` the question's), its matching words as near the middle as the limit allows, so
    that the words around them, where the answer often is, are quoted too; without a term to match, the words
    from its start that fit. The span itself if it fits, or if its first word alone does not (quote_text cuts it)."""
    words = [(match.start(), match.end()) for match in _WORD.finditer(text, span.start, span.end)]
    # the quote of words i..j is ends[j + 1] - ends[i] - 1 characters long: one space between words
    ends = [0, *accumulate(end - start + 1 for start, end in words)]
    if not words or ends[-1] - 1 <= limit:
        return span
    held = [[t for t in word_terms(text[start:end]) if t in weights] for start, end in words]
    matched = [i for i, terms in enumerate(held) if terms]
    if not matched:  # the words from the start that fit, as quote_text cuts
        fitting = bisect.bisect_right(ends, limit + 1) - 2
        return Span(words[0][0], words[fitting][1]) if fitting >= 0 else span
    counts: dict[Hashable, int] = {}
    weight = 0.0

    def add(word: int, step: int) -> float:
        change = 0.0
        for term in held[word]:
            counts[term] = counts.get(term, 0) + step
            if counts[term] == (1 if step > 0 else 0):  # the term entered or left the run
                change += step * weights[term]
        return change

    best: tuple[float, int, int, int] | None = None
    last = -1  # the run's last word: runs starting further on end at least as far
    for first in range(len(words)):
        if last < first - 1:
            last = first - 1
        while last + 1 < len(words) and ends[last + 2] - ends[first] - 1 <= limit:
            last += 1
            weight += add(last, 1)
        if last >= first:
            inside = matched[bisect.bisect_left(matched, first):bisect.bisect_right(matched, last)]
            margin = abs((ends[inside[0]] - ends[first]) - (ends[last + 1] - ends[inside[-1] + 1])) if inside else 0
            key = (-round(weight, 6), margin, first, last)
            if best is None or key < best:
                best = key
            weight += add(first, -1)
        if last == len(words) - 1:
            break  # later runs are shorter ones of the same words
    if best is None:
        return span
    first, last = best[2], best[3]
    return Span(words[first][0], words[last][1])
