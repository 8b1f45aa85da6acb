"""Splitting sections into passages: runs of whole sentences that never cross a section, sized for the model."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from .records import Article, Passage, Span
from .text import paragraph_spans, sentence_spans

# all-MiniLM-L6-v2 was trained on 128 word pieces and truncates at 256.
TARGET_TOKENS = 128
MAX_TOKENS = 200

TokenCounter = Callable[[Sequence[str]], list[int]]


def approximate_token_counts(texts: Sequence[str]) -> list[int]:
    """About 1.3 word pieces per word, for when no tokenizer is at hand."""
    return [math.ceil(len(text.split()) * 1.3) for text in texts]


def _balanced_runs(sentences: list[Span], tokens: list[int], target: int) -> list[list[int]]:
    """Split sentence indices into consecutive runs of roughly equal token counts near ``target``."""
    total = sum(tokens)
    runs_wanted = max(1, math.ceil(total / target))
    per_run = total / runs_wanted
    runs: list[list[int]] = [[]]
    filled = 0
    for index, count in enumerate(tokens):
        if runs[-1] and filled + count > per_run * 1.15:
            runs.append([])
            filled = 0
        runs[-1].append(index)
        filled += count
    return runs


def chunk_article(
    article: Article,
    count_tokens: TokenCounter = approximate_token_counts,
    target_tokens: int = TARGET_TOKENS,
    max_tokens: int = MAX_TOKENS,
) -> list[Passage]:
    """Passages for every section: short paragraphs merge up to ``target_tokens``; a paragraph over
    ``max_tokens`` is split at sentence boundaries into balanced parts."""
    text = article.text
    passages: list[Passage] = []
    for section_index, section in enumerate(article.sections):
        paragraphs = [sentence_spans(text, p.start, p.end) for p in paragraph_spans(text, section.start, section.end)]
        paragraphs = [sentences for sentences in paragraphs if sentences]
        counts = count_tokens([text[s.start:s.end] for sentences in paragraphs for s in sentences])
        pending: list[Span] = []
        pending_tokens = 0

        def flush() -> None:
            nonlocal pending, pending_tokens
            if pending:
                passages.append(Passage(article.id, section_index, pending[0].start, pending[-1].end, tuple(pending)))
            pending, pending_tokens = [], 0

        cursor = 0
        for sentences in paragraphs:
            tokens = counts[cursor:cursor + len(sentences)]
            cursor += len(sentences)
            paragraph_tokens = sum(tokens)
            if paragraph_tokens > max_tokens:
                flush()
                for run in _balanced_runs(sentences, tokens, target_tokens):
                    pending = [sentences[i] for i in run]
                    flush()
                continue
            if pending and pending_tokens + paragraph_tokens > target_tokens:
                flush()
            pending.extend(sentences)
            pending_tokens += paragraph_tokens
        flush()
    return passages
