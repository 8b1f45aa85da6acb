"""A process killed at any point while saving the index leaves the last good index loadable.

Done for real: child processes save index snapshots and are SIGKILLed, once right before each file-system
change a save makes (found with an audit hook), and then at random moments while saving in a loop. After
every kill the index must load whole and consistent, either the old generation or the new one, never a mix;
stray staging folders must not matter, and the next save clears them. Finally a corrupted or truncated
index file is detected by its checksum and rebuilt from the articles, end to end through the command line."""
from __future__ import annotations

import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from index.records import Article, Passage, Section, Span
from index.snapshot import IndexSnapshot
from index.store import (
    SAVE_LOCK, MANIFEST, POINTER, current_version, load_snapshot, read_manifest, save_snapshot, wait_for_removals,
)
from index.tokens import TokenizedCollection

PROJECT = Path(__file__).resolve().parents[2]
MODEL = "crash-test"
DIMENSION = 384
TRUCE = "Who claimed that a truce deal was close?"


def synthetic_snapshot(generation: int, count: int) -> IndexSnapshot:
    """An index of ``count`` one-sentence passages in which every part says which generation it is."""
    sentences = [f"Passage {i} belongs to gen{generation} of the index." for i in range(count)]
    text = " ".join(sentences)
    spans, at = [], 0
    for sentence in sentences:
        spans.append(Span(at, at + len(sentence)))
        at += len(sentence) + 1
    article = Article("gen.txt", f"Generation {generation}", "gen.txt", text, (Section(None, 0, len(text)),), f"hash{generation}")
    vectors = np.full((count, DIMENSION), float(generation), dtype=np.float32)
    passages = tuple(Passage(article.id, 0, s.start, s.end, (s,)) for s in spans)
    return IndexSnapshot(
        model_id=MODEL,
        dimension=DIMENSION,
        articles={article.id: article},
        indexed_at={article.id: float(generation)},
        passages=passages,
        passage_vectors=vectors,
        sentence_vectors=vectors.copy(),
        tokens=TokenizedCollection.of([(article, passages)]),
    )


def loaded_generation(index_dir: Path, count: int) -> int:
    """Load the index as the bot would, check that all of it is of one generation, and say which."""
    snapshot = load_snapshot(index_dir, MODEL)
    assert snapshot is not None, "the last good index is gone"
    generation = snapshot_generation(snapshot, count)
    assert read_manifest(index_dir)["articles"]["gen.txt"]["hash"] == f"hash{generation}"
    return generation


def snapshot_generation(snapshot: IndexSnapshot, count: int) -> int:
    """Check that all of a loaded snapshot is of one generation, and say which."""
    (article,) = snapshot.articles.values()
    generation = int(article.title.split()[1])
    assert article.content_hash == f"hash{generation}" and snapshot.indexed_at[article.id] == generation
    assert f"gen{generation} " in article.text and f"gen{generation + 1} " not in article.text
    assert len(snapshot.passages) == count
    assert np.all(snapshot.passage_vectors == generation) and np.all(snapshot.sentence_vectors == generation)
    assert np.all(snapshot.keyword.scores(snapshot.keyword.query_terms(f"gen{generation}")) > 0), "the keyword index is of another generation"
    return generation


def assert_tidy(index_dir: Path, replaced: str) -> None:
    """After a completed save: the pointer, its version, the version it replaced (kept for readers in other
    processes that may be loading it), the file saves lock to take turns, and nothing else, once the older
    ones are removed (in the background)."""
    wait_for_removals()
    names = sorted(path.name for path in index_dir.iterdir())
    assert names == sorted([POINTER, current_version(index_dir).name, replaced, SAVE_LOCK]), names


# The children. "loop": save new generations one after another until killed, reporting each to a log file.
# "points": build one snapshot, then for each kill point k fork a child that saves it into its own copy of a
# template index and is SIGKILLed right before its k-th file-system change (seen by an audit hook); k = 0
# is a full save that reports how many changes a save makes. Forking from one clean helper process keeps
# each kill cheap; the helper itself is started fresh, with no threads of the test process.
CHILD = r"""
import os, shutil, signal, sys
from pathlib import Path
sys.path[:0] = [sys.argv[2], sys.argv[3]]
from test_crash_safety import synthetic_snapshot
from index.store import save_snapshot

CHANGES = ("os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.truncate", "shutil.rmtree", "shutil.move")
state = {"armed": False, "events": 0, "kill_at": 0}

def hook(event, args):
    if not state["armed"]:
        return
    if event in CHANGES or (event == "open" and isinstance(args[1], str) and any(c in args[1] for c in "wax+")):
        state["events"] += 1
        if state["events"] == state["kill_at"]:
            os.kill(os.getpid(), signal.SIGKILL)

sys.addaudithook(hook)
mode = sys.argv[1]
if mode == "loop":
    index_dir, generation, count, log = Path(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), Path(sys.argv[7])
    with log.open("a") as out:
        snapshot = synthetic_snapshot(generation, count)
        out.write("ready\n"); out.flush()
        while True:
            save_snapshot(snapshot, index_dir)
            out.write(f"saved {generation}\n"); out.flush()
            generation += 1
            snapshot = synthetic_snapshot(generation, count)
else:
    root, template, generation, count = Path(sys.argv[4]), Path(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
    snapshot = synthetic_snapshot(generation, count)
    kill_at, points = 0, None
    while points is None or kill_at <= points:
        target = root / f"kill-{kill_at}"
        shutil.copytree(template, target)
        child = os.fork()
        if child == 0:
            state.update(armed=True, kill_at=kill_at)
            save_snapshot(snapshot, target)
            os._exit(min(state["events"], 255))  # a whole save: say how many changes it made
        _, status = os.waitpid(child, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        print(f"point {kill_at} {'killed' if killed else 'completed'}", flush=True)
        if points is None:
            points = os.WEXITSTATUS(status)
            print(f"changes {points}", flush=True)
        kill_at += 1
"""


def start_child(mode: str, *args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, str(Path(__file__).parent), str(PROJECT), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT,
    )


def log_lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_a_kill_before_any_file_change_of_a_save_leaves_a_whole_index(tmp_path):
    count = 2000
    template = tmp_path / "template"
    save_snapshot(synthetic_snapshot(1, count), template)
    helper = start_child("points", tmp_path, template, 2, count)
    out, err = helper.communicate(timeout=300)
    assert helper.returncode == 0, err
    lines = out.splitlines()
    changes = int(next(line for line in lines if line.startswith("changes")).split()[1])
    assert changes >= 8, "a save writes records, vectors, keyword files, manifest and pointer"
    points = {int(line.split()[1]): line.split()[2] for line in lines if line.startswith("point")}
    assert points[0] == "completed" and all(points[k] == "killed" for k in range(1, changes + 1)), points

    outcomes = []
    for kill_at in range(1, changes + 1):
        index_dir = tmp_path / f"kill-{kill_at}"
        strays = any(p.name.startswith(".") and p.name != POINTER for p in index_dir.iterdir())
        outcomes.append((kill_at, loaded_generation(index_dir, count), strays))
    generations = [generation for _, generation, _ in outcomes]
    # Old until the pointer is replaced, new from then on: never anything else, never back.
    assert set(generations) <= {1, 2} and generations == sorted(generations)
    assert generations[0] == 1 and generations[-1] == 2
    assert any(strays for _, _, strays in outcomes), "some kills leave a staging folder behind"

    # Whatever a kill left behind, the next start serves the index and the next save tidies up.
    for kill_at, generation, _ in outcomes:
        index_dir = tmp_path / f"kill-{kill_at}"
        # (named as a save names them: the folder may hold other files, which a save leaves alone)
        (index_dir / ".staging-v-20260101T000000-0123abcd").mkdir(exist_ok=True)
        (index_dir / ".staging-v-20260101T000000-0123abcd" / "records.json").write_text("{half")
        (index_dir / f".{POINTER}.deadbeef.tmp").write_text("v-nothing")
        assert loaded_generation(index_dir, count) == generation
        replaced = current_version(index_dir).name
        save_snapshot(synthetic_snapshot(3, count), index_dir)
        assert_tidy(index_dir, replaced)
        assert loaded_generation(index_dir, count) == 3


def test_random_kills_while_saving_in_a_loop_never_lose_the_index(tmp_path):
    count = 8000  # about 25 MB per save, so many kills land inside a file being written
    index_dir = tmp_path / "ix"
    save_snapshot(synthetic_snapshot(0, count), index_dir)
    last_saved = 0
    seed = int(os.environ.get("CRASH_SEED", time.time_ns() % 10_000))  # CRASH_SEED=n repeats a run
    rng = random.Random(seed)
    for iteration in range(6):
        log = tmp_path / f"loop-{iteration}.log"
        child = start_child("loop", index_dir, last_saved + 1, count, log)
        deadline = time.monotonic() + 60
        while "ready" not in log_lines(log):
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.8))  # a save and the next snapshot take about 0.2 s each here
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        saved = [int(line.split()[1]) for line in log_lines(log) if line.startswith("saved")]
        expected_at_least = saved[-1] if saved else last_saved
        generation = loaded_generation(index_dir, count)
        # the last completed save, or the one under way if the kill came after its pointer switch
        assert generation in (expected_at_least, expected_at_least + 1), (seed, saved, generation)
        last_saved = generation
    replaced = current_version(index_dir).name
    save_snapshot(synthetic_snapshot(last_saved + 1, count), index_dir)
    assert_tidy(index_dir, replaced)
    assert loaded_generation(index_dir, count) == last_saved + 1


# -- corruption is detected and rebuilt, end to end ----------------------------------------------------------

def _flip_a_byte(path: Path) -> None:
    """Change one character inside the file: still valid JSON or NumPy, only the checksum can tell."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    while not chr(data[middle]).isalpha():
        middle += 1
    data[middle] = ord("Q") if data[middle] != ord("Q") else ord("R")
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


DAMAGE = {
    "records.json flipped": lambda v: _flip_a_byte(v / "records.json"),
    "sentence vectors truncated": lambda v: _truncate(v / "sentence_vectors.npy"),
    "vocabulary flipped": lambda v: _flip_a_byte(v / "vocabulary.json"),
    "term arrays flipped": lambda v: _flip_a_byte(v / "tokens.npz"),
    "term arrays truncated": lambda v: _truncate(v / "tokens.npz"),
    "passage vectors missing": lambda v: (v / "passage_vectors.npy").unlink(),
    "manifest truncated": lambda v: _truncate(v / MANIFEST),
    "pointer to nowhere": lambda v: (v.parent / POINTER).write_text("v-19700101T000000-00000000"),
    "pointer emptied": lambda v: (v.parent / POINTER).write_text(""),
}


@pytest.fixture
def cli_folders(sample_articles, tmp_path, monkeypatch):
    monkeypatch.setenv("ARTICLES_DIR", str(sample_articles))
    monkeypatch.setenv("INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("EMBEDDING_BACKEND", "torch")  # the session's model; no ONNX export in a temporary folder
    monkeypatch.chdir(tmp_path)
    return sample_articles, tmp_path / "index"


@pytest.fixture(scope="module")
def good_index(tmp_path_factory, embedder) -> Path:
    """A saved index of the sample article, built once and copied for each kind of damage."""
    from index import ArticleIndex, open_index

    folder = tmp_path_factory.mktemp("good") / "index"
    open_index(ArticleIndex(embedder), PROJECT / "articles", folder)
    return folder


def _ask_json(capsys) -> dict:
    from bot.cli import main

    assert main(["ask", "--json", TRUCE]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_index_is_detected_and_rebuilt_by_the_command_line(damage, good_index, cli_folders, capsys, caplog):
    articles, index_dir = cli_folders
    shutil.copytree(good_index, index_dir)
    DAMAGE[damage](current_version(index_dir))
    with caplog.at_level(logging.WARNING):
        answer = _ask_json(capsys)
    assert answer["answered"] is True and "Ismail Haniyeh" in answer["results"][0]["quote"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("index")]
    assert any("Rebuilding it from" in message and str(articles) in message for message in warnings), warnings
    assert any(word in " ".join(warnings) for word in ("corrupt", "damaged", "unreadable", "truncated"))
    assert load_snapshot(index_dir, "all-MiniLM-L6-v2") is not None, "the rebuilt index was saved"
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert _ask_json(capsys)["answered"] is True
    assert "Rebuilding" not in caplog.text, "the next start serves the rebuilt index as it is"


def test_damaged_index_is_rebuilt_by_article_bot_ask_json(good_index, cli_folders, tmp_path):
    articles, index_dir = cli_folders
    shutil.copytree(good_index, index_dir)
    _flip_a_byte(current_version(index_dir) / "records.json")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", TRUCE],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Ismail Haniyeh" in json.loads(done.stdout)["results"][0]["quote"]
    assert "records.json is corrupt" in done.stderr and "Rebuilding it from" in done.stderr
    assert "Traceback" not in done.stderr
