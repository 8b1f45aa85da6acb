"""One index folder shared by several processes: they load it while another process saves new versions.

A save keeps the version it replaced, so a load under way finishes with the version it began with; if that
version is removed all the same (two saves during one load), the load starts over with the current one."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_crash_safety import MODEL, log_lines, snapshot_generation, start_child, synthetic_snapshot

from index import store
from index.store import current_version, load_snapshot, save_snapshot, wait_for_removals

COUNT = 500


def other_process_saves_during_next_load(monkeypatch, index_dir: Path, generations: list[int]) -> None:
    """Save these generations (as another process would) once the next load has read its manifest."""
    real_checksum = store.file_crc32
    pending = list(generations)

    def checksum(path: Path) -> int:
        todo, pending[:] = list(pending), []  # taken at once: the saves below compute checksums too
        for generation in todo:
            save_snapshot(synthetic_snapshot(generation, COUNT), index_dir)
        wait_for_removals()  # the other process's saves are over, the old versions they remove included
        return real_checksum(path)

    monkeypatch.setattr(store, "file_crc32", checksum)


def load_generation(index_dir: Path) -> int:
    snapshot = load_snapshot(index_dir, MODEL)
    assert snapshot is not None
    return snapshot_generation(snapshot, COUNT)


def test_a_load_under_way_finishes_with_its_version_when_another_process_saves(tmp_path, monkeypatch):
    index_dir = tmp_path / "ix"
    save_snapshot(synthetic_snapshot(1, COUNT), index_dir)
    other_process_saves_during_next_load(monkeypatch, index_dir, [2])
    assert load_generation(index_dir) == 1  # whole, and of the version it began with
    assert load_generation(index_dir) == 2  # the next load sees the new one
    previous = current_version(index_dir)
    save_snapshot(synthetic_snapshot(3, COUNT), index_dir)
    wait_for_removals()
    assert previous.is_dir() and len([p for p in index_dir.iterdir() if p.name.startswith("v-")]) == 2


def test_a_load_whose_version_is_removed_meanwhile_loads_the_current_one(tmp_path, monkeypatch):
    index_dir = tmp_path / "ix"
    save_snapshot(synthetic_snapshot(1, COUNT), index_dir)
    other_process_saves_during_next_load(monkeypatch, index_dir, [2, 3])  # the second save removes version 1
    assert load_generation(index_dir) == 3


def test_a_damaged_index_is_still_an_error_not_retried_for_ever(tmp_path):
    index_dir = tmp_path / "ix"
    save_snapshot(synthetic_snapshot(1, COUNT), index_dir)
    (current_version(index_dir) / "passage_vectors.npy").write_bytes(b"garbage")
    with pytest.raises(store.IndexStoreError, match="corrupt"):
        load_snapshot(index_dir, MODEL)


def test_loads_while_another_process_saves_again_and_again_are_always_whole(tmp_path):
    count = 2000
    index_dir = tmp_path / "ix"
    save_snapshot(synthetic_snapshot(0, count), index_dir)
    log = tmp_path / "writer.log"
    writer = start_child("loop", index_dir, 1, count, log)  # saves generation 1, 2, ... until killed
    try:
        deadline = time.monotonic() + 120
        while "ready" not in log_lines(log):
            assert writer.poll() is None, writer.stderr.read()
            assert time.monotonic() < deadline, "the writing process did not start"
            time.sleep(0.005)
        generations = []
        while len(generations) < 10 or len([line for line in log_lines(log) if line.startswith("saved")]) < 5:
            assert writer.poll() is None, writer.stderr.read()
            assert len(generations) < 2000, "the writing process stopped saving"
            snapshot = load_snapshot(index_dir, MODEL)
            assert snapshot is not None
            generations.append(snapshot_generation(snapshot, count))
    finally:
        writer.kill()
        writer.wait(timeout=30)
    assert generations == sorted(generations), "a load went back to an older version"
