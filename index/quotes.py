"""Cutting quotes out of articles. Which window of whole sentences to quote is chosen in search.py
(candidate_windows, score_windows, choose_windows)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .records import Span
from .text import collapse_whitespace

QUOTE_LIMIT = 600


@dataclass(frozen=True, slots=True)
class QuoteWindow:
    """Character offsets of the quote and of its best sentence in the article's text."""

    start: int
    end: int
    highlight: Span


def quote_text(text: str, span: Span | QuoteWindow, limit: int = QUOTE_LIMIT) -> str:
    """The verbatim quote for a span (whitespace collapsed); cut at the last word that fits if still too long."""
    quote = collapse_whitespace(text[span.start:span.end])
    if len(quote) <= limit:
        return quote
    cut = quote.rfind(" ", 0, limit + 1)
    return quote[: cut if cut > 0 else limit].rstrip()


def _quoted_length(text: str, start: int, end: int) -> int:
    return len(collapse_whitespace(text[start:end]))


def select_quote_window(
    text: str, sentences: Sequence[Span], sentence_scores: np.ndarray, limit: int = QUOTE_LIMIT
) -> QuoteWindow:
    """Start from the best-scoring sentence and add the better-scoring neighbour while the quote fits.

    Searches no longer use this (they score every maximal window, see search.score_windows); kept for callers."""
    best = int(np.argmax(sentence_scores))
    first = last = best
    while True:
        candidates = []
        if first > 0:
            candidates.append((float(sentence_scores[first - 1]), first - 1, last))
        if last + 1 < len(sentences):
            candidates.append((float(sentence_scores[last + 1]), first, last + 1))
        grown = False
        for _, new_first, new_last in sorted(candidates, reverse=True):
            if _quoted_length(text, sentences[new_first].start, sentences[new_last].end) <= limit:
                first, last, grown = new_first, new_last, True
                break
        if not grown:
            break
    return QuoteWindow(sentences[first].start, sentences[last].end, sentences[best])
