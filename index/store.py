"""Saving and loading the index folder.

Layout: ``CURRENT`` names the version folder in use; each version holds a manifest, the records, the
vectors (``.npy``, searched exactly by FAISS and opened memory-mapped), the tokenized form of the collection
(vocabulary and term arrays, so that neither a load nor the next update tokenizes every sentence; the keyword
index and the sentence table are made from it) and, for large collections, the approximate FAISS passage index.
A save writes a new version beside the old one and then
replaces ``CURRENT`` atomically, so a crash at any point leaves the last good index loadable.

Several processes (on several machines sharing a disk) may load one index folder while one process saves to
it. A save keeps the version it replaced, so a reader that has just read the old ``CURRENT`` can still load
it; a reader whose version vanishes all the same (after two saves in quick succession) loads the new one."""
from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import numpy as np

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

from .errors import IncompatibleIndex, IndexStoreError
from .files import file_crc32, load_mapped, npy_chunks, write_atomically, write_checksummed
from .records import Article, Passage, Section, Span
from .snapshot import IndexSnapshot
from .tokens import TokenizedCollection
from .vectors import load_index

logger = logging.getLogger(__name__)

# 2: passages and sentences are embedded with their article title (and section heading) as context.
# 3: the manifest records each file's size; the sentence table is saved; large collections add an
#    approximate FAISS passage index.
# 4: the tokenized form of the collection (vocabulary and term arrays) replaces the saved keyword index and
#    sentence table, which are made from it; files are checked by CRC-32 rather than SHA-256.
# 5: the passage records are integer arrays in passages.npz rather than nested lists in records.json.
FORMAT_VERSION = 5
POINTER = "CURRENT"
MANIFEST = "manifest.json"
_RECORDS = "records.json"
_PASSAGES = "passages.npz"
_PASSAGE_VECTORS = "passage_vectors.npy"
_SENTENCE_VECTORS = "sentence_vectors.npy"
_APPROXIMATE_PASSAGES = "passage_index.faiss"
_VOCABULARY = "vocabulary.json"
_TOKENS = "tokens.npz"
# Files up to this size are checked against their CRC-32 on every load; larger ones (the vectors of big
# collections) by size only, so that opening them memory-mapped does not mean reading them whole. Saves are
# atomic, so damage inside a large file can only come from the disk itself.
CHECKSUM_LIMIT = 64 * 1024 * 1024
# How many versions a load tries when each one is replaced and removed while it is being read.
LOAD_ATTEMPTS = 3


class _VersionFiles:
    """The files of a version being written. Each is flushed to disk by a worker thread while the next one is
    made (the flushes overlap with each other and with the encoding), and its CRC-32 and size for the manifest
    come from the bytes in memory rather than from reading the file back."""

    def __init__(self, folder: Path, flushing: ThreadPoolExecutor) -> None:
        self.folder = folder
        self.files: dict[str, dict] = {}
        self._pool = flushing
        self._flushes: list[Future] = []

    def write(self, name: str, *chunks: bytes | memoryview) -> None:
        handle = (self.folder / name).open("xb")
        try:
            checksum, size = write_checksummed(handle, chunks)
            handle.flush()
        except BaseException:
            handle.close()
            raise
        self.files[name] = {"crc32": checksum, "bytes": size}
        self._flushes.append(self._pool.submit(_flush_and_close, handle))

    def add_written(self, name: str) -> None:
        """A file another library wrote (and flushed) itself: its checksum has to be read back."""
        path = self.folder / name
        self.files[name] = {"crc32": file_crc32(path), "bytes": path.stat().st_size}

    def wait_until_on_disk(self) -> None:
        for flush in self._flushes:
            flush.result()


def _flush_and_close(handle: BinaryIO) -> None:
    try:
        os.fsync(handle.fileno())
    finally:
        handle.close()


def _npz_bytes(arrays: dict[str, np.ndarray]) -> memoryview:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getbuffer()


def _passage_arrays(snapshot: IndexSnapshot) -> dict[str, np.ndarray]:
    """The passage records as integer arrays (far cheaper to write and read than nested JSON lists): per passage
    its article's ordinal, section, start, end and sentence count; per sentence its start and end."""
    ordinal = {article_id: n for n, article_id in enumerate(snapshot.articles)}
    passages = snapshot.passages
    rows = np.array(
        [(ordinal[p.article_id], p.section_index, p.start, p.end, len(p.sentences)) for p in passages], dtype=np.int64
    ).reshape(len(passages), 5)
    sentences = np.fromiter(
        (bound for p in passages for s in p.sentences for bound in (s.start, s.end)), dtype=np.int64
    ).reshape(-1, 2)
    return {"passages": rows, "sentences": sentences}


def _passages_from_arrays(article_ids: list[str], saved: Mapping[str, np.ndarray]) -> tuple[Passage, ...]:
    """The passages ``_passage_arrays`` saved; ValueError if the arrays do not fit together."""
    rows, sentences = saved["passages"], saved["sentences"]
    if (
        rows.ndim != 2 or rows.shape[1] != 5 or sentences.ndim != 2 or sentences.shape[1] != 2
        or (len(rows) and not 0 <= rows[:, 0].min() <= rows[:, 0].max() < len(article_ids))
        or int(rows[:, 4].sum()) != len(sentences)
    ):
        raise ValueError("the passage records do not fit together")
    bounds = sentences.tolist()
    passages, first = [], 0
    for article, section, start, end, count in rows.tolist():
        spans = tuple(Span(s, e) for s, e in bounds[first:first + count])
        passages.append(Passage(article_ids[article], section, start, end, spans))
        first += count
    return tuple(passages)


def _article_record(article: Article, indexed_at: float) -> dict:
    return {
        "id": article.id,
        "title": article.title,
        "source": article.source,
        "url": article.url,
        "date": article.date,
        "hash": article.content_hash,
        "indexed_at": indexed_at,
        "text": article.text,
        "sections": [[s.heading, s.start, s.end] for s in article.sections],
    }


def _article_from_record(record: dict) -> Article:
    return Article(
        id=record["id"],
        title=record["title"],
        source=record["source"],
        text=record["text"],
        sections=tuple(Section(h, s, e) for h, s, e in record["sections"]),
        content_hash=record["hash"],
        url=record["url"],
        date=record["date"],
    )


def save_snapshot(snapshot: IndexSnapshot, index_dir: Path) -> Path:
    """Write the snapshot as a new version and make it current; returns the version folder. IndexStoreError if
    the folder cannot be written (the version current until then stays so). Saves to one folder take turns,
    from threads and processes alike: each removes the versions before the one it replaced, which must not
    be another's new one."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        with _saving_in(index_dir):
            return _save_version(snapshot, index_dir)
    except OSError as error:
        raise IndexStoreError(f"Could not save the index in {index_dir}: {error.strerror or error}.") from error


# Held (locked) by the save under way in its folder; hidden, so article folders and listings pass it by.
SAVE_LOCK = ".save.lock"


@contextlib.contextmanager
def _saving_in(index_dir: Path) -> Iterator[None]:
    """An exclusive lock on the folder for one save. (Without fcntl, as on Windows, saves of one process still
    take turns, but not those of several processes.)"""
    with _thread_lock_for(index_dir.resolve()), open(index_dir / SAVE_LOCK, "a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the file closes
        yield


@functools.cache
def _thread_lock_for(folder: Path) -> threading.Lock:
    return threading.Lock()


# A version's name, and what else a save leaves aside for a later one to remove: a staging folder cut short,
# and the temporary pointer file of an interrupted write (files.replace_atomically).
_VERSION_NAME = r"v-\d{8}T\d{6}-[0-9a-f]{8}"
_LEFT_ASIDE = re.compile(rf"{_VERSION_NAME}|\.staging-{_VERSION_NAME}|\.{POINTER}\.[0-9a-f]{{8}}\.tmp")


def _save_version(snapshot: IndexSnapshot, index_dir: Path) -> Path:
    version = index_dir / f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    staging = index_dir / f".staging-{version.name}"
    staging.mkdir()
    try:
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="index-save") as flushing:
            files = _VersionFiles(staging, flushing)
            _write_version(snapshot, files)
            files.wait_until_on_disk()  # all of the version is on disk before it can become current
        staging.rename(version)
        try:
            replaced = _pointer(index_dir)
        except IndexStoreError:
            replaced = None  # an unreadable pointer names nothing worth keeping
        write_atomically(index_dir / POINTER, version.name.encode())  # the moment the new version becomes the index
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # Processes sharing the folder may be loading the version just replaced: it goes at the next save. Older
    # ones are listed now (a later save's new files can never be among them) and removed by a worker thread, so
    # that the caller does not wait for the disk; a removal cut short is finished by the next save.
    old_versions = _old_versions(index_dir, keep={version.name, replaced})
    if old_versions:
        removal = threading.Thread(target=_remove, args=(old_versions,), name="index-old-versions")
        with _removals_lock:  # saves of several collections may run at once
            _removals[:] = [*(other for other in _removals if other.is_alive()), removal]
            removal.start()  # (before another thread can wait for it)
    return version


# Removals of old versions under way (the interpreter waits for them before it exits).
_removals: list[threading.Thread] = []
_removals_lock = threading.Lock()


def wait_for_removals() -> None:
    """Return once the old versions that earlier saves left to remove are gone."""
    with _removals_lock:
        pending, _removals[:] = list(_removals), []
    for removal in pending:
        removal.join()


def _write_version(snapshot: IndexSnapshot, files: _VersionFiles) -> None:
    articles = [_article_record(a, snapshot.indexed_at[a.id]) for a in snapshot.articles.values()]
    # ASCII JSON: more than twice as fast to encode as with the text's own characters (which come out as \u escapes)
    files.write(_RECORDS, json.dumps({"articles": articles}).encode())
    files.write(_PASSAGES, _npz_bytes(_passage_arrays(snapshot)))
    for name, array in ((_PASSAGE_VECTORS, snapshot.passage_vectors), (_SENTENCE_VECTORS, snapshot.sentence_vectors)):
        files.write(name, *npy_chunks(np.ascontiguousarray(array, dtype=np.float32)))
    files.write(_VOCABULARY, snapshot.tokens.vocabulary_json())
    files.write(_TOKENS, _npz_bytes(snapshot.tokens.arrays()))
    if snapshot.approximate_passages is not None:
        snapshot.approximate_passages.save(files.folder / _APPROXIMATE_PASSAGES)
        files.add_written(_APPROXIMATE_PASSAGES)
    manifest = {
        "format_version": FORMAT_VERSION,
        "model": snapshot.model_id,
        "dimension": snapshot.dimension,
        "created": time.time(),
        "articles": {a.id: {"hash": a.content_hash, "title": a.title} for a in snapshot.articles.values()},
        "passages": len(snapshot.passages),
        "sentences": int(snapshot.sentence_vectors.shape[0]),
        "files": dict(sorted(files.files.items())),
    }
    files.write(MANIFEST, json.dumps(manifest, indent=1).encode())


def _old_versions(index_dir: Path, keep: set[str | None]) -> list[Path]:
    """Versions, staging folders and pointer files left aside in the index folder, but for those in ``keep``.
    Only names this module makes: the folder may be shared with other files (INDEX_DIR set to a busy folder)."""
    return [path for path in index_dir.iterdir() if path.name not in keep and _LEFT_ASIDE.fullmatch(path.name)]


def _remove(paths: list[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def _pointer(index_dir: Path) -> str | None:
    """The version name ``CURRENT`` holds, or None when there is no index yet."""
    try:
        return (index_dir / POINTER).read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise IndexStoreError(f"Cannot read the index at {index_dir}: {error.strerror}.") from None
    except ValueError:  # not text
        raise IndexStoreError(f"The index at {index_dir} is damaged: {POINTER} is not a version name.") from None


def _version_folder(index_dir: Path, name: str) -> Path:
    if not name.startswith("v-") or "/" in name or not (index_dir / name).is_dir():
        raise IndexStoreError(f"The index at {index_dir} is damaged: {POINTER} names a missing version.")
    return index_dir / name


def current_version(index_dir: Path) -> Path | None:
    """The version folder ``CURRENT`` names, or None when there is no index yet."""
    name = _pointer(index_dir)
    return None if name is None else _version_folder(index_dir, name)


def read_manifest(index_dir: Path) -> dict | None:
    """The current manifest, or None when there is no index."""
    version = current_version(index_dir)
    return None if version is None else _version_manifest(version)


def _version_manifest(version: Path) -> dict:
    try:
        manifest = json.loads((version / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise IndexStoreError(f"The index manifest in {version} is unreadable ({error}).") from None
    if not isinstance(manifest, dict):
        raise IndexStoreError(f"The index manifest in {version} is not a JSON object.")
    return manifest


def check_compatible(manifest: dict, model_id: str) -> None:
    """Refuse an index made with another format or model: its vectors cannot be mixed with ours."""
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IncompatibleIndex(
            f"The index was saved in format {manifest.get('format_version')!r}; this version reads format {FORMAT_VERSION}."
        )
    if manifest.get("model") != model_id:
        raise IncompatibleIndex(f"The index was built with the model {manifest.get('model')!r}, not {model_id!r}.")


def load_snapshot(index_dir: Path, model_id: str, attempts: int = LOAD_ATTEMPTS) -> IndexSnapshot | None:
    """Load and verify the current index; None if there is none. Raises IndexStoreError if it is unusable.

    If another process replaces the version while it is being read (and a later save removes it), the
    version ``CURRENT`` names by then is loaded instead; an error stands only if ``CURRENT`` did not change."""
    name = _pointer(index_dir)
    if name is None:
        return None
    try:
        return _load_version(index_dir, _version_folder(index_dir, name), model_id)
    except IndexStoreError:
        if attempts <= 1 or _pointer(index_dir) == name:
            raise
    logger.info("The index version %s was replaced while it was being loaded; loading the new one.", name)
    return load_snapshot(index_dir, model_id, attempts - 1)


def _load_version(index_dir: Path, version: Path, model_id: str) -> IndexSnapshot:
    """Every part of the snapshot from this one version folder, checked against its manifest."""
    manifest = _version_manifest(version)
    check_compatible(manifest, model_id)
    try:
        for name, expected in manifest["files"].items():
            _check_file(version / name, expected)
        records = json.loads((version / _RECORDS).read_text())
        articles = [_article_from_record(r) for r in records["articles"]]
        with np.load(version / _PASSAGES, allow_pickle=False) as saved:
            passages = _passages_from_arrays([a.id for a in articles], saved)
        # Memory-mapped: pages are read as searches touch them, and several processes share them.
        passage_vectors = load_mapped(version / _PASSAGE_VECTORS)
        sentence_vectors = load_mapped(version / _SENTENCE_VECTORS)
        approximate = load_index(version / _APPROXIMATE_PASSAGES) if _APPROXIMATE_PASSAGES in manifest["files"] else None
        tokens = TokenizedCollection.load(version / _VOCABULARY, version / _TOKENS)
        dimension = int(manifest["dimension"])
        indexed_at = {r["id"]: float(r["indexed_at"]) for r in records["articles"]}
    except IndexStoreError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, RuntimeError) as error:  # RuntimeError: FAISS
        raise IndexStoreError(f"The index at {index_dir} is corrupt or truncated ({type(error).__name__}: {error}).") from None
    sentences = sum(len(p.sentences) for p in passages)
    if (
        passage_vectors.shape != (len(passages), dimension)
        or sentence_vectors.shape != (sentences, dimension)
        or (approximate is not None and (approximate.ntotal, approximate.dimension) != (len(passages), dimension))
        or (len(tokens.article_passages), tokens.passages, tokens.sentences) != (len(articles), len(passages), sentences)
    ):
        raise IndexStoreError(f"The index at {index_dir} is inconsistent: vector counts do not match its records.")
    return IndexSnapshot(
        model_id=model_id,
        dimension=dimension,
        articles={a.id: a for a in articles},
        indexed_at=indexed_at,
        passages=passages,
        passage_vectors=passage_vectors,
        sentence_vectors=sentence_vectors,
        tokens=tokens,
        approximate_passages=approximate,
    )


def _check_file(path: Path, expected: dict) -> None:
    """IndexStoreError unless the file has the size (and, if small enough to hash, the checksum) saved."""
    size = path.stat().st_size
    if size != expected["bytes"]:
        raise IndexStoreError(f"The index file {path.name} is corrupt or truncated (its size does not match).")
    if size <= CHECKSUM_LIMIT and file_crc32(path) != expected["crc32"]:
        raise IndexStoreError(f"The index file {path.name} is corrupt (its checksum does not match).")
