"""Fixtures shared by all tests: the real packaged model (loaded once), the sample article, shared data."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_ARTICLES = PROJECT_ROOT / "articles"
SHARED_DIR = Path(os.environ.get("SHARED_DIR", PROJECT_ROOT.parent / "shared"))


@pytest.fixture(scope="session", autouse=True)
def shared_model_cache(tmp_path_factory):
    """One ONNX export for the whole session (CLI runs in temporary folders would each export their own);
    set in the environment so subprocesses share it too."""
    cache = tmp_path_factory.mktemp("model-cache")
    previous = os.environ.get("MODEL_CACHE_DIR")
    os.environ["MODEL_CACHE_DIR"] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop("MODEL_CACHE_DIR", None)
    else:
        os.environ["MODEL_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def embedder():
    """The packaged all-MiniLM-L6-v2, loaded once per test session."""
    from index.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture
def sample_articles(tmp_path: Path) -> Path:
    """A private copy of the shipped sample article folder, free to change."""
    folder = tmp_path / "articles"
    shutil.copytree(SAMPLE_ARTICLES, folder)
    return folder
