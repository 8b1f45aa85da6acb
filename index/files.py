"""File helpers shared by the index store, the model cache and article uploads."""
from __future__ import annotations

import hashlib
import io
import os
import uuid
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's contents, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_crc32(path: Path) -> int:
    """CRC-32 of a file's contents, read in blocks: some five times faster than SHA-256, and as sure to catch
    damage from a disk (any burst of errors up to 32 bits, anything else but for one chance in 4 billion)."""
    checksum = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            checksum = zlib.crc32(block, checksum)
    return checksum


def write_checksummed(handle: BinaryIO, chunks: Iterable[bytes | memoryview]) -> tuple[int, int]:
    """Write the chunks; returns the CRC-32 (as ``file_crc32`` would give it) and the size of what was written,
    computed from the bytes in memory rather than by reading the file back."""
    checksum = size = 0
    for chunk in chunks:
        handle.write(chunk)
        checksum = zlib.crc32(chunk, checksum)
        size += memoryview(chunk).nbytes
    return checksum, size


def npy_chunks(array: np.ndarray) -> tuple[bytes, memoryview]:
    """The bytes ``np.save`` writes for a C-contiguous array, as its header and a view of the array's own
    memory (no copy)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(array))
    return header.getvalue(), memoryview(array.reshape(-1).view(np.uint8))


def replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Have ``write`` fill a hidden temporary file beside ``path``, flush it to disk, then rename it over
    ``path``: readers see the old file or the new one, never half of one, even after a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(temporary)
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomically(path: Path, data: bytes) -> None:
    replace_atomically(path, lambda temporary: temporary.write_bytes(data))


def load_mapped(path: Path) -> np.ndarray:
    """A saved .npy array, memory-mapped (pages are read as they are touched and shared between processes) but
    as a plain ndarray: np.memmap's Python-level indexing hooks cost microseconds on every slice a search
    takes, some 0.2 ms per search in all."""
    return np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
