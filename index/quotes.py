"""Cutting quotes out of articles. Which window of whole sentences to quote is chosen in search.py
(candidate_windows, score_windows, choose_windows)."""
from __future__ import annotations

from dataclasses import dataclass

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
