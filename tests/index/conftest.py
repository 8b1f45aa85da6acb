"""Fixtures shared by the index tests: the ONNX model cache, the int8 embedder and the sample article's texts."""
from __future__ import annotations

from pathlib import Path

import pytest

from index.embedding import OnnxInt8Embedder
from index.loaders import load_folder
from index.passages import chunk_article

SAMPLE = Path(__file__).resolve().parents[2] / "articles"


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory) -> Path:
    """One ONNX export and int8 quantization for the whole session."""
    cache = tmp_path_factory.mktemp("models")
    OnnxInt8Embedder(cache_dir=cache)  # exports fp32, then quantizes
    return cache


@pytest.fixture(scope="session")
def int8_embedder(onnx_cache):
    return OnnxInt8Embedder(cache_dir=onnx_cache)


@pytest.fixture(scope="session")
def sample_texts(embedder) -> tuple[list[str], list[str]]:
    """The sample article's passages and sentences, as ArticleIndex embeds them."""
    article = load_folder(SAMPLE).articles[0]
    passages, sentences = [], []
    for passage in chunk_article(article, embedder.count_tokens):
        heading = article.sections[passage.section_index].heading
        body = article.text[passage.start:passage.end]
        passages.append(f"{heading}\n{body}" if heading else body)
        sentences.extend(article.text[s.start:s.end] for s in passage.sentences)
    return passages, sentences
