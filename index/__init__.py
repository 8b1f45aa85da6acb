"""Retrieval library: load articles, split them into passages, embed and index them, and answer
questions with verbatim quotes. It knows nothing of Discord."""
from __future__ import annotations

from .collection import DEFAULT_MIN_SCORE, DEFAULT_TOP_K, MAX_QUESTION_CHARS, ArticleIndex, EmbedderSpec, UpdateReport, load_saved_index, open_index, refresh_from_folder
from .errors import (
    AmbiguousArticle,
    ArticleIndexError,
    ArticleLoadError,
    ArticlesFolderError,
    IncompatibleIndex,
    IndexStoreError,
    InvalidQuestion,
    ModelNotFound,
    UnknownArticle,
)
from .records import Answer, Article, ArticleSummary, Passage, SearchResult, Section

__all__ = [
    "DEFAULT_MIN_SCORE",
    "DEFAULT_TOP_K",
    "MAX_QUESTION_CHARS",
    "AmbiguousArticle",
    "Answer",
    "Article",
    "ArticleIndex",
    "ArticleIndexError",
    "ArticleLoadError",
    "ArticleSummary",
    "ArticlesFolderError",
    "EmbedderSpec",
    "IncompatibleIndex",
    "IndexStoreError",
    "InvalidQuestion",
    "ModelNotFound",
    "Passage",
    "SearchResult",
    "Section",
    "UnknownArticle",
    "UpdateReport",
    "load_saved_index",
    "open_index",
    "refresh_from_folder",
]
