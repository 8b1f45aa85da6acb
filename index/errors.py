"""Errors the index raises for bad input; each carries a message fit to show a user."""
from __future__ import annotations


class ArticleIndexError(Exception):
    """Base class: the message is written for the person who caused it."""


class InvalidQuestion(ArticleIndexError, ValueError):
    """The question is empty or too long."""


class ArticleLoadError(ArticleIndexError):
    """One article file could not be read; the others are unaffected."""


class ArticlesFolderError(ArticleIndexError):
    """The articles folder is missing or holds no readable article."""


class ModelNotFound(ArticleIndexError, FileNotFoundError):
    """The configured embedding model folder is missing or is not a sentence-transformers model."""


class IndexStoreError(ArticleIndexError):
    """The saved index is missing, corrupt, or was built differently."""


class IncompatibleIndex(IndexStoreError):
    """The saved index was built with another model or format version."""


class UnknownArticle(ArticleIndexError, KeyError):
    """A search was narrowed to an article that is not indexed."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown article"


class AmbiguousArticle(UnknownArticle):
    """An article name fits several articles, and does not say which."""
