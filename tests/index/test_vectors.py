"""The vector index: exact while small, approximate (FAISS IVF-SQ8) past a threshold, saved and memory-mapped."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.vectors import ApproximateIndex, ExactIndex, build_index, load_index, set_threads

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    set_threads(1)


def clustered(count: int, dimension: int = 64, clusters: int = 50, seed: int = 0) -> np.ndarray:
    """Unit vectors scattered around a few centres, like embeddings of texts on a few topics."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dimension)).astype(np.float32)
    vectors = centres[rng.integers(0, clusters, count)] + 0.6 * rng.standard_normal((count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


@pytest.fixture(scope="module")
def data():
    vectors = clustered(6000)
    queries = clustered(100, seed=1)
    return vectors, queries


def test_kind_is_chosen_by_size(data):
    vectors, _ = data
    assert isinstance(build_index(vectors[:999], threshold=1000), ExactIndex)
    approximate = build_index(vectors[:1000], threshold=1000)
    assert isinstance(approximate, ApproximateIndex) and approximate.kind == "ivf-sq8"
    assert len(approximate) == 1000 and approximate.dimension == 64


def test_exact_index_is_exact(data):
    vectors, queries = data
    scores, ids = build_index(vectors).search(queries, 10)
    assert np.array_equal(ids, exact_top(vectors, queries, 10))
    assert np.allclose(scores, np.take_along_axis(queries @ vectors.T, ids, axis=1), atol=1e-6)
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_approximate_index_agrees_with_exact_search(data):
    vectors, queries = data
    index = build_index(vectors, threshold=1000)
    assert isinstance(index, ApproximateIndex)
    scores, ids = index.search(queries, 10)
    assert recall_at(ids, exact_top(vectors, queries, 10)) >= 0.95
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    # scores are (8-bit approximations of) the inner products
    assert np.allclose(scores, np.take_along_axis(queries @ vectors.T, ids, axis=1), atol=0.02)
    assert index.nbytes < vectors.nbytes / 2


@pytest.mark.parametrize("threshold", [1000, 100_000])
def test_saved_index_loads_memory_mapped_with_the_same_results(data, tmp_path, threshold):
    vectors, queries = data
    index = build_index(vectors, threshold=threshold)
    path = tmp_path / "vectors.index"
    index.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["vectors.index"]  # nothing left aside
    for mmap in (True, False):
        loaded = load_index(path, mmap=mmap)
        assert type(loaded) is type(index) and len(loaded) == len(vectors)
        assert np.array_equal(loaded.search(queries, 10)[1], index.search(queries, 10)[1])
    mapped = load_index(path)
    if isinstance(mapped, ExactIndex):
        assert isinstance(mapped.vectors, np.memmap)
    else:
        assert mapped.nprobe == index.nprobe


def test_few_vectors_and_single_queries(data):
    vectors, queries = data
    for index in (build_index(vectors[:5]), build_index(vectors[:300], threshold=100)):
        scores, ids = index.search(queries[0], 8)  # a single 1-D query
        assert ids.shape == scores.shape == (1, 8)
        found = ids[0][ids[0] >= 0]
        assert len(found) >= min(5, len(index)) and np.all(ids[0][len(found):] == -1)
        assert np.all(np.isneginf(scores[0][len(found):]))
    with pytest.raises(ValueError, match="dimension 64"):
        build_index(vectors[:5]).search(np.ones(3, dtype=np.float32), 1)


_OPEN_AND_MEASURE = """
import sys
import faiss  # imported first: the library alone adds RSS
from index.vectors import load_index

def rss():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096

before = rss()
index = load_index(sys.argv[1], mmap=sys.argv[2] == "mmap")
print(rss() - before)
"""


def _rss_added_by_opening(path, how: str) -> int:
    """RSS growth from opening the index, measured in a fresh process (this one's allocator reuses freed memory)."""
    result = subprocess.run(
        [sys.executable, "-c", _OPEN_AND_MEASURE, str(path), how], capture_output=True, text=True, timeout=120,
        cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip())


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_opening_does_not_read_the_whole_file(tmp_path):
    vectors = clustered(200_000, seed=3)
    path = tmp_path / "big.index"
    build_index(vectors, threshold=1000).save(path)
    size = path.stat().st_size
    assert _rss_added_by_opening(path, "mmap") < size / 4
    assert _rss_added_by_opening(path, "read") > size / 2  # reading it does take its size: the check above means something
    queries = clustered(20, seed=4)
    assert np.array_equal(load_index(path).search(queries, 10)[1], load_index(path, mmap=False).search(queries, 10)[1])
