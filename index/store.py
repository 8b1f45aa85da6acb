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

import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from .errors import IncompatibleIndex, IndexStoreError
from .files import file_crc32, load_mapped, write_atomically
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
FORMAT_VERSION = 4
POINTER = "CURRENT"
MANIFEST = "manifest.json"
_RECORDS = "records.json"
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


def _fsync_write(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


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
    """Write the snapshot as a new version and make it current; returns the version folder."""
    index_dir.mkdir(parents=True, exist_ok=True)
    version = index_dir / f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    staging = index_dir / f".staging-{version.name}"
    staging.mkdir()
    try:
        ordinal = {article_id: n for n, article_id in enumerate(snapshot.articles)}
        records = {
            "articles": [_article_record(a, snapshot.indexed_at[a.id]) for a in snapshot.articles.values()],
            "passages": [
                [ordinal[p.article_id], p.section_index, p.start, p.end, [x for s in p.sentences for x in (s.start, s.end)]]
                for p in snapshot.passages
            ],
        }
        _fsync_write(staging / _RECORDS, json.dumps(records, ensure_ascii=False).encode())
        for name, array in ((_PASSAGE_VECTORS, snapshot.passage_vectors), (_SENTENCE_VECTORS, snapshot.sentence_vectors)):
            with (staging / name).open("wb") as handle:
                np.save(handle, np.ascontiguousarray(array, dtype=np.float32))
                handle.flush()
                os.fsync(handle.fileno())
        _fsync_write(staging / _VOCABULARY, snapshot.tokens.vocabulary_json())
        with (staging / _TOKENS).open("wb") as handle:
            np.savez(handle, **snapshot.tokens.arrays())
            handle.flush()
            os.fsync(handle.fileno())
        if snapshot.approximate_passages is not None:
            snapshot.approximate_passages.save(staging / _APPROXIMATE_PASSAGES)
        files = {
            path.relative_to(staging).as_posix(): {"crc32": file_crc32(path), "bytes": path.stat().st_size}
            for path in sorted(staging.rglob("*"))
            if path.is_file()
        }
        manifest = {
            "format_version": FORMAT_VERSION,
            "model": snapshot.model_id,
            "dimension": snapshot.dimension,
            "created": time.time(),
            "articles": {a.id: {"hash": a.content_hash, "title": a.title} for a in snapshot.articles.values()},
            "passages": len(snapshot.passages),
            "sentences": int(snapshot.sentence_vectors.shape[0]),
            "files": files,
        }
        _fsync_write(staging / MANIFEST, json.dumps(manifest, indent=1).encode())
        staging.rename(version)
        try:
            replaced = _pointer(index_dir)
        except IndexStoreError:
            replaced = None  # an unreadable pointer names nothing worth keeping
        write_atomically(index_dir / POINTER, version.name.encode())  # the moment the new version becomes the index
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # Processes sharing the folder may be loading the version just replaced: it goes at the next save.
    _remove_old_versions(index_dir, keep={version.name, replaced})
    return version


def _remove_old_versions(index_dir: Path, keep: set[str | None]) -> None:
    for path in index_dir.iterdir():
        if path.name not in keep and path.name != POINTER and (path.name.startswith(("v-", ".staging-", f".{POINTER}."))):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def _pointer(index_dir: Path) -> str | None:
    """The version name ``CURRENT`` holds, or None when there is no index yet."""
    try:
        return (index_dir / POINTER).read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise IndexStoreError(f"Cannot read the index at {index_dir}: {error.strerror}") from None


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
        ids = [a.id for a in articles]
        passages = tuple(
            Passage(ids[a], section, start, end, tuple(Span(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)))
            for a, section, start, end, flat in records["passages"]
        )
        # Memory-mapped: pages are read as searches touch them, and several processes share them.
        passage_vectors = load_mapped(version / _PASSAGE_VECTORS)
        sentence_vectors = load_mapped(version / _SENTENCE_VECTORS)
        approximate = load_index(version / _APPROXIMATE_PASSAGES) if _APPROXIMATE_PASSAGES in manifest["files"] else None
        tokens = TokenizedCollection.load(version / _VOCABULARY, version / _TOKENS)
    except IndexStoreError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, RuntimeError) as error:  # RuntimeError: FAISS
        raise IndexStoreError(f"The index at {index_dir} is corrupt or truncated ({type(error).__name__}: {error}).") from None
    dimension = int(manifest["dimension"])
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
        indexed_at={r["id"]: float(r["indexed_at"]) for r in records["articles"]},
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
