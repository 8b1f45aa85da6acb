"""Nearest-neighbour search over unit vectors by inner product: exact while the collection is small, an
approximate FAISS index past ``APPROXIMATE_THRESHOLD`` vectors.

    index = build_index(vectors)               # ExactIndex or ApproximateIndex, by size
    scores, ids = index.search(queries, k=10)  # (queries, k) each; ids are row numbers, -1 where none
    index.save(path)
    index = load_index(path)                   # memory-mapped: opening does not read the whole file

The approximate index is an inverted file of 8-bit scalar-quantized residuals (FAISS ``IVF<n>,SQ8``):
about 400 bytes per 384-dimension vector instead of 1,536, and a search scans ``nprobe`` of the ``nlist``
lists instead of every vector. Chosen by measurement (bench/speed.py): at 1,000,000 vectors it answers
well over 40 times faster than exact search with recall@10 above 0.95; HNSW needs the full vectors plus its
graph (over 1,700 bytes per vector) and takes far longer to build on one core. Saved indexes are opened
memory-mapped (FAISS ``IO_FLAG_MMAP_IFC``; numpy ``mmap_mode`` for the exact kind): opening a 1M index takes
about a millisecond and pages load as searches touch them. A save writes a new file and renames it over the
old one, so a mapped index being searched stays valid.
"""
from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from .files import replace_atomically

# Below this many vectors exact search is fast enough (a few ms) and needs no training; past it, approximate.
APPROXIMATE_THRESHOLD = 50_000
# Lists scanned per search. Measured on perturbed real MiniLM vectors (bench/speed.py): recall@10 against
# exact search 0.96 at 100,000 vectors (512 lists) and 0.98 at 1,000,000 (2,048 lists); 16 gave 0.94 at 100,000.
NPROBE = 32
# Training points per list for k-means (FAISS warns below 39).
TRAIN_POINTS_PER_LIST = 40
KMEANS_ITERATIONS = 10

_NPY_MAGIC = b"\x93NUMPY"
# FAISS threads. Questions are searched one per worker thread, and on a busy 2-core machine one OpenMP thread
# was faster than two for every search measured; bench/speed.py sets others with set_threads.
SEARCH_THREADS = 1


@functools.cache
def load_faiss():
    """FAISS, imported on first use (it is not needed to load an index) with its thread count set once."""
    import faiss

    faiss.omp_set_num_threads(SEARCH_THREADS)
    return faiss


def _as_queries(queries: np.ndarray, dimension: int) -> np.ndarray:
    queries = np.asarray(queries, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None, :]
    if queries.ndim != 2 or queries.shape[1] != dimension:
        raise ValueError(f"Expected query vectors of dimension {dimension}, got shape {queries.shape}")
    return np.ascontiguousarray(queries)


class VectorIndex(ABC):
    """Inner-product search over a fixed set of vectors; ids are the rows they were given in."""

    kind: str

    @property
    @abstractmethod
    def ntotal(self) -> int: ...

    @property
    @abstractmethod
    def dimension(self) -> int: ...

    @property
    @abstractmethod
    def nbytes(self) -> int:
        """Bytes the index's data takes (in memory, or in the page cache when memory-mapped)."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best (scores, ids) per query, best first: float32 and int64 arrays of shape (queries, k).
        Where fewer than ``k`` vectors exist, ids are -1 and scores -inf."""

    @abstractmethod
    def save(self, path: Path) -> None:
        """Write the index to one file (atomically: aside, then renamed)."""

    @staticmethod
    def load(path: Path, mmap: bool = True) -> VectorIndex:
        return load_index(path, mmap=mmap)

    def __len__(self) -> int:
        return self.ntotal


class ExactIndex(VectorIndex):
    """Every vector scored (FAISS's flat search over the array). Saved as a .npy file, opened memory-mapped."""

    kind = "exact"

    def __init__(self, vectors: np.ndarray) -> None:
        if vectors.ndim != 2:
            raise ValueError(f"Expected a 2-D array of vectors, got shape {vectors.shape}")
        self.vectors = vectors if vectors.dtype == np.float32 else vectors.astype(np.float32)

    @property
    def ntotal(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def nbytes(self) -> int:
        return int(self.vectors.nbytes)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        faiss = load_faiss()  # its flat search (SIMD for a few queries, BLAS for many) beat numpy's product 5-10×
        queries = _as_queries(queries, self.dimension)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        found = min(k, self.ntotal)
        if found == 0 or len(queries) == 0:
            return scores, ids
        vectors = self.vectors if self.vectors.flags.c_contiguous else np.ascontiguousarray(self.vectors)
        scores[:, :found], ids[:, :found] = faiss.knn(queries, vectors, found, metric=faiss.METRIC_INNER_PRODUCT)
        return scores, ids

    def save(self, path: Path) -> None:
        def write(temporary: Path) -> None:
            with temporary.open("wb") as handle:
                np.save(handle, np.ascontiguousarray(self.vectors, dtype=np.float32))

        replace_atomically(path, write)

    @classmethod
    def open(cls, path: Path, mmap: bool = True) -> ExactIndex:
        return cls(np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False))


class ApproximateIndex(VectorIndex):
    """FAISS ``IVF<nlist>,SQ8`` by inner product; ``nprobe`` lists are scanned per query."""

    kind = "ivf-sq8"

    def __init__(self, faiss_index) -> None:
        self.faiss_index = faiss_index

    @staticmethod
    def lists_for(count: int) -> int:
        """About 2·√n lists, a power of two: 2,048 at a million vectors, 512 at 100,000; never so many that
        k-means gets fewer than TRAIN_POINTS_PER_LIST points per list."""
        lists = 2 ** round(math.log2(2 * math.sqrt(max(count, 1))))
        return max(1, min(lists, count // TRAIN_POINTS_PER_LIST))

    @classmethod
    def build(
        cls, vectors: np.ndarray, *, nlist: int | None = None, nprobe: int | None = None, seed: int = 1234, chunk: int = 65_536
    ) -> ApproximateIndex:
        faiss = load_faiss()
        count, dimension = vectors.shape
        nlist = nlist or cls.lists_for(count)
        quantizer = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dimension, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index.cp.niter = KMEANS_ITERATIONS
        index.cp.seed = seed
        sample_size = min(count, nlist * TRAIN_POINTS_PER_LIST)
        rows = np.sort(np.random.default_rng(seed).choice(count, size=sample_size, replace=False))
        index.train(np.ascontiguousarray(vectors[rows], dtype=np.float32))
        for first in range(0, count, chunk):  # in slices, so a memory-mapped input is never copied whole
            index.add(np.ascontiguousarray(vectors[first:first + chunk], dtype=np.float32))
        index.nprobe = min(nlist, nprobe or NPROBE)
        return cls(index)

    @property
    def ntotal(self) -> int:
        return int(self.faiss_index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self.faiss_index.d)

    @property
    def nprobe(self) -> int:
        return int(self.faiss_index.nprobe)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self.faiss_index.nprobe = int(value)

    @property
    def nbytes(self) -> int:
        index = self.faiss_index
        codes = index.ntotal * (index.code_size + 8)  # a code and an int64 id per vector
        centroids = index.nlist * index.d * 4
        return int(codes + centroids)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = _as_queries(queries, self.dimension)
        scores, ids = self.faiss_index.search(queries, k)
        scores = np.where(ids >= 0, scores, -np.inf).astype(np.float32, copy=False)
        return scores, ids.astype(np.int64, copy=False)

    def save(self, path: Path) -> None:
        faiss = load_faiss()
        replace_atomically(path, lambda temporary: faiss.write_index(self.faiss_index, str(temporary)))

    @classmethod
    def open(cls, path: Path, mmap: bool = True) -> ApproximateIndex:
        faiss = load_faiss()
        flags = 0
        if mmap:
            # IO_FLAG_MMAP_IFC (FAISS >= 1.9) maps the file and uses it in place: opening takes milliseconds
            # and searches run as fast as on an index read into memory. The older IO_FLAG_MMAP goes through
            # OnDiskInvertedLists, which searched 3-4x slower here.
            flags = getattr(faiss, "IO_FLAG_MMAP_IFC", faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        return cls(faiss.read_index(str(path), flags))


def build_index(vectors: np.ndarray, *, threshold: int = APPROXIMATE_THRESHOLD, **options) -> VectorIndex:
    """Exact search below ``threshold`` vectors, approximate (``ApproximateIndex.build(**options)``) from it on."""
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        raise ValueError(f"Expected a 2-D array of vectors, got shape {vectors.shape}")
    if len(vectors) < threshold:
        return ExactIndex(np.ascontiguousarray(vectors, dtype=np.float32))
    return ApproximateIndex.build(vectors, **options)


def load_index(path: Path, mmap: bool = True) -> VectorIndex:
    """Open a saved index of either kind; ``mmap`` maps the file instead of reading it into memory."""
    with Path(path).open("rb") as handle:
        magic = handle.read(len(_NPY_MAGIC))
    if magic == _NPY_MAGIC:
        return ExactIndex.open(path, mmap=mmap)
    return ApproximateIndex.open(path, mmap=mmap)


def set_threads(threads: int) -> None:
    """Threads FAISS may use (process-wide). One was fastest on a busy two-core machine."""
    load_faiss().omp_set_num_threads(max(1, int(threads)))
