from __future__ import annotations

import json

import numpy as np
import pytest

from index import ArticleIndex, IncompatibleIndex, IndexStoreError
from index.store import MANIFEST, current_version, load_snapshot, read_manifest, save_snapshot


@pytest.fixture
def built(embedder, sample_articles) -> ArticleIndex:
    index = ArticleIndex(embedder)
    index.sync_folder(sample_articles)
    return index


def test_round_trip_keeps_records_vectors_and_answers(built, embedder, tmp_path):
    built.save(tmp_path / "ix")
    loaded = ArticleIndex(embedder)
    assert loaded.load(tmp_path / "ix")
    before, after = built.snapshot, loaded.snapshot
    assert after.passages == before.passages
    assert after.articles == before.articles
    np.testing.assert_array_equal(after.passage_vectors, before.passage_vectors)
    np.testing.assert_array_equal(after.sentence_vectors, before.sentence_vectors)
    question = "Who claimed that a truce deal was close?"
    assert loaded.search(question) == built.search(question)


def test_manifest_describes_the_index(built, tmp_path):
    built.save(tmp_path / "ix")
    manifest = read_manifest(tmp_path / "ix")
    assert manifest["format_version"] == 5
    assert manifest["model"] == "all-MiniLM-L6-v2"
    assert manifest["dimension"] == 384
    (article_id, entry), = manifest["articles"].items()
    assert article_id == "000_97ab4e9c0a6dbff7.txt" and len(entry["hash"]) == 64


def test_no_index_loads_as_none(tmp_path):
    assert load_snapshot(tmp_path / "nothing", "all-MiniLM-L6-v2") is None


def test_other_model_is_refused(built, tmp_path):
    built.save(tmp_path / "ix")
    with pytest.raises(IncompatibleIndex, match="other-model|all-MiniLM"):
        load_snapshot(tmp_path / "ix", "other-model")


def test_other_format_is_refused(built, tmp_path):
    built.save(tmp_path / "ix")
    manifest_path = current_version(tmp_path / "ix") / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 99
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IncompatibleIndex, match="format"):
        load_snapshot(tmp_path / "ix", "all-MiniLM-L6-v2")


@pytest.mark.parametrize("victim", ["records.json", "passages.npz", "passage_vectors.npy", "sentence_vectors.npy", "tokens.npz", "vocabulary.json"])
def test_corrupt_or_truncated_files_are_detected(built, tmp_path, victim):
    built.save(tmp_path / "ix")
    path = current_version(tmp_path / "ix") / victim
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(IndexStoreError, match="corrupt"):
        load_snapshot(tmp_path / "ix", "all-MiniLM-L6-v2")


def test_garbage_manifest_and_dangling_pointer_are_clear_errors(built, tmp_path):
    built.save(tmp_path / "ix")
    (current_version(tmp_path / "ix") / MANIFEST).write_text("{not json")
    with pytest.raises(IndexStoreError, match="unreadable"):
        load_snapshot(tmp_path / "ix", "all-MiniLM-L6-v2")
    (tmp_path / "ix" / "CURRENT").write_text("v-missing")
    with pytest.raises(IndexStoreError, match="damaged"):
        load_snapshot(tmp_path / "ix", "all-MiniLM-L6-v2")


def test_a_failed_save_leaves_the_previous_index(built, embedder, tmp_path, monkeypatch):
    built.save(tmp_path / "ix")
    first = current_version(tmp_path / "ix")

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("index.tokens.TokenizedCollection.arrays", broken_save)
    with pytest.raises(IndexStoreError, match=r"Could not save the index in .*ix: disk full"):
        save_snapshot(built.snapshot, tmp_path / "ix")
    assert current_version(tmp_path / "ix") == first
    assert not [p for p in (tmp_path / "ix").iterdir() if p.name.startswith(".staging")]
    assert ArticleIndex(embedder).load(tmp_path / "ix")


def test_an_index_folder_that_cannot_be_made_is_a_clear_error(built, tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    with pytest.raises(IndexStoreError, match=r"Could not save the index in .*taken: File exists\."):
        built.save(taken)
    assert taken.read_text() == "not a folder"


def test_saves_remove_only_their_own_old_versions(built, embedder, tmp_path):
    """The folder may hold other files (an index folder set to a busy one): only versions the saves made go."""
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "v-notes.txt").write_text("mine")
    (folder / "v-project").mkdir()
    (folder / ".staging-area").mkdir()
    for _ in range(3):
        built.save(folder)
    from index.store import wait_for_removals

    wait_for_removals()
    versions = sorted(p.name for p in folder.iterdir() if p.name.startswith("v-2"))
    assert len(versions) == 2  # the current one and the one it replaced (a process may still be loading it)
    assert (folder / "v-notes.txt").read_text() == "mine" and (folder / "v-project").is_dir() and (folder / ".staging-area").is_dir()
    assert ArticleIndex(embedder).load(folder)


def test_a_pointer_or_manifest_of_the_wrong_kind_is_a_clear_error(built, tmp_path):
    built.save(tmp_path / "ix")
    manifest_path = current_version(tmp_path / "ix") / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    for broken in ({**manifest, "files": "x"}, {k: v for k, v in manifest.items() if k != "dimension"}):
        manifest_path.write_text(json.dumps(broken))
        with pytest.raises(IndexStoreError, match="corrupt"):
            load_snapshot(tmp_path / "ix", "all-MiniLM-L6-v2")
    (tmp_path / "ix" / "CURRENT").write_bytes(b"v-\xff\xfe")
    with pytest.raises(IndexStoreError, match="CURRENT is not a version name"):
        load_snapshot(tmp_path / "ix", "all-MiniLM-L6-v2")


def test_saves_from_several_threads_at_once_leave_a_loadable_index(built, embedder, tmp_path):
    """Each save removes the versions before the one it replaced: saves that overlapped would remove each other's."""
    import threading

    from index.store import wait_for_removals

    errors: list[Exception] = []

    def save_repeatedly() -> None:
        for _ in range(8):
            try:
                built.save(tmp_path / "ix")
            except Exception as error:  # noqa: BLE001 - collected for the assertion
                errors.append(error)

    savers = [threading.Thread(target=save_repeatedly) for _ in range(3)]
    for saver in savers:
        saver.start()
    for saver in savers:
        saver.join()
    wait_for_removals()
    assert not errors
    assert ArticleIndex(embedder).load(tmp_path / "ix")
    assert len([p for p in (tmp_path / "ix").iterdir() if p.name.startswith("v-")]) == 2

