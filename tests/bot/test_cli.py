"""The article-bot command line as an operator uses it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from index import IndexStoreError
from index.store import current_version

TRUCE = "Who claimed that a truce deal was close?"


def run_cli(*args: str, stdin: str | None = None, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), **(env or {})},
        timeout=300,
    )


@pytest.fixture
def folders(sample_articles, tmp_path, monkeypatch):
    """Point the settings at a private copy of the sample article and a fresh index folder."""
    monkeypatch.setenv("ARTICLES_DIR", str(sample_articles))
    monkeypatch.setenv("INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    return sample_articles, tmp_path / "index"


def test_ask_json_quotes_haniyeh_first_end_to_end(folders, tmp_path):
    articles, index_dir = folders
    done = run_cli("ask", "--json", TRUCE, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    answer = json.loads(line)
    assert answer["question"] == TRUCE and answer["answered"] is True
    first = answer["results"][0]
    assert "Ismail Haniyeh" in first["quote"]
    assert first["article"] == "Hamas Claiming Progress in Truce Negotiations"
    assert first["section"] == "Hamas Claiming Progress in Truce Negotiations"
    assert first["source"].endswith("000_97ab4e9c0a6dbff7.txt")
    assert set(first) == {"article", "section", "source", "quote", "score"}
    assert current_version(index_dir) is not None  # ask built the missing index
    assert "Traceback" not in done.stderr


def test_ask_reads_one_question_per_line(folders, tmp_path):
    broad = "What is the war about?"  # three quotes by default, each near enough the first
    done = run_cli("ask", "--json", "--top-k", "2", stdin=f"{broad}\n\nWhat is the capital of Peru's cuisine?\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["question"] for a in answers] == [broad, "What is the capital of Peru's cuisine?"]
    assert len(answers[0]["results"]) == 2
    assert answers[1] == {"question": "What is the capital of Peru's cuisine?", "answered": False, "results": []}


def test_human_output_names_the_source(folders, capsys):
    assert main(["ask", TRUCE]) == 0
    out = capsys.readouterr().out
    assert "Ismail Haniyeh" in out and "source:" in out and "Hamas Claiming Progress" in out


def test_text_from_articles_cannot_drive_the_terminal(folders, capsys):
    articles, _ = folders
    (articles / "evil.txt").write_text(
        "Evil \x1b]0;pwned\x07Title\n\nThe tide turns at noon \x1b[2J\x1b[31mexactly\x1b[0m every day.\n"
    )
    assert main(["ask", "--article", "evil.txt", "When does the tide turn?"]) == 0
    out = capsys.readouterr().out
    assert "The tide turns at noon" in out and "\x1b" not in out and "\x07" not in out


def test_build_prints_a_summary_then_is_up_to_date(folders, capsys):
    assert main(["index", "build"]) == 0
    assert "1 articles, 3 sections" in capsys.readouterr().out
    assert main(["index", "build"]) == 0
    assert "1 unchanged" in capsys.readouterr().out
    assert main(["index", "info"]) == 0
    assert "The Need for Diplomatic Solutions" in capsys.readouterr().out


@pytest.mark.parametrize(("question", "message"), [("   ", "empty"), ("x" * 10_000, "10,000 characters")])
def test_bad_questions_get_a_message_not_a_traceback(folders, capsys, question, message):
    assert main(["ask", question]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("top_k", ["0", "-3", "11", "many"])
def test_top_k_out_of_range_is_refused(folders, capsys, top_k):
    with pytest.raises(SystemExit) as exited:
        main(["ask", "--top-k", top_k, TRUCE])
    assert exited.value.code == 2 and "argument --top-k" in capsys.readouterr().err


def test_bad_question_in_json_mode_is_reported_per_line(folders, capsys, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("y" * 5000 + f"\n{TRUCE}\n"))
    assert main(["ask", "--json"]) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["answered"] is False and "5,000 characters" in first["error"]
    assert second["answered"] is True


def test_a_line_that_is_not_utf8_is_still_answered_and_the_rest_too(folders, capsys, monkeypatch):
    import io

    # How Python hands over stdin bytes that are not UTF-8: as lone surrogates (surrogateescape).
    undecodable = b"Who claimed a truce \xff deal was close?".decode("utf-8", "surrogateescape")
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{undecodable}\n{TRUCE}\n"))
    assert main(["ask", "--json"]) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["question"] == "Who claimed a truce \ufffd deal was close?" and first["answered"] is True
    assert second["question"] == TRUCE and second["answered"] is True


def test_blank_folder_settings_mean_the_defaults(folders, tmp_path, monkeypatch, capsys):
    """A blank ``INDEX_DIR=`` is not the working folder, whose files an index save would then sweep away."""
    monkeypatch.setenv("INDEX_DIR", "")
    monkeypatch.setenv("DATA_DIR", " ")
    (tmp_path / "v-notes.txt").write_text("mine")
    (tmp_path / "v-project").mkdir()
    for text in ("First", "Second", "Third"):  # each save removes the versions before the last
        (tmp_path / "articles" / "note.txt").write_text(f"{text} note\n\nA note that changes.\n")
        assert main(["index", "build"]) == 0
    assert (tmp_path / "v-notes.txt").read_text() == "mine" and (tmp_path / "v-project").is_dir()
    assert current_version(tmp_path / "data" / "index") is not None and not (tmp_path / "CURRENT").exists()
    monkeypatch.setenv("ARTICLES_DIR", "")  # the default, articles/ (where the sample is copied)
    capsys.readouterr()
    assert main(["index", "build"]) == 0
    assert "2 articles" in capsys.readouterr().out


def test_a_missing_model_and_a_settings_file_not_in_utf8_are_one_clear_line(folders, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMBEDDING_MODEL", str(tmp_path / "no-model"))
    assert main(["ask", TRUCE]) == 2
    err = capsys.readouterr().err
    assert f"error: No embedding model at {tmp_path / 'no-model'}" in err and "Traceback" not in err
    monkeypatch.delenv("EMBEDDING_MODEL")
    (tmp_path / ".env").write_bytes("TOP_K=2  # caf\u00e9\n".encode("latin-1"))
    assert main(["ask", TRUCE]) == 2
    assert "error: the settings file .env is not UTF-8 text" in capsys.readouterr().err


def test_missing_articles_folder_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["ask", "--articles", str(tmp_path / "nope"), "--index", str(tmp_path / "ix"), TRUCE]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The articles folder") and "does not exist" in err


def test_an_index_folder_that_is_a_file_is_one_clear_line(folders, capsys, monkeypatch):
    _, index_dir = folders
    index_dir.write_text("keep me")
    assert main(["index", "build"]) == 2
    err = capsys.readouterr().err
    assert f"error: Could not save the index in {index_dir}: File exists." in err and "Traceback" not in err
    assert index_dir.read_text() == "keep me"


def test_ask_serves_the_saved_index_when_an_update_cannot_be_saved(folders, capsys, caplog, monkeypatch):
    articles, _ = folders
    assert main(["index", "build"]) == 0
    (articles / "tides.md").write_text("# Tides\n\nThe moon's gravity causes the tides.\n")

    def disk_full(*args, **kwargs):
        raise IndexStoreError("Could not save the index in data/index: No space left on device.")

    monkeypatch.setattr("index.collection.save_snapshot", disk_full)
    assert main(["ask", "--json", TRUCE]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["answered"] is True
    assert "No space left on device. Serving the saved index as it is." in caplog.text
    assert main(["index", "build"]) == 2  # a build must save, so it says why it could not
    assert "error: Could not save the index in data/index: No space left on device." in capsys.readouterr().err


def test_unreadable_files_are_skipped_with_a_warning(folders, capsys):
    articles, _ = folders
    (articles / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    (articles / "broken.txt").write_bytes(b"\x00\x01\x02")
    assert main(["index", "build"]) == 0
    captured = capsys.readouterr()
    assert "skipped broken.txt" in captured.err and "skipped photo.jpg" in captured.err
    assert captured.err.count("broken.txt") == 1 and captured.err.count("photo.jpg") == 1  # once each, named once
    assert "1 articles" in captured.out


def test_index_from_another_model_is_rebuilt(folders, capsys, caplog):
    _, index_dir = folders
    assert main(["index", "build"]) == 0
    capsys.readouterr()
    manifest = current_version(index_dir) / "manifest.json"
    data = json.loads(manifest.read_text())
    data["model"] = "some-other-model"
    manifest.write_text(json.dumps(data))
    assert main(["ask", "--json", TRUCE]) == 0
    assert json.loads(capsys.readouterr().out)["answered"] is True
    assert "some-other-model" in caplog.text and "Rebuilding" in caplog.text
    from bot.settings import Settings

    rebuilt_with = json.loads((current_version(index_dir) / "manifest.json").read_text())["model"]
    assert rebuilt_with == Settings(_env_file=None).embedder_spec().model_id  # the configured model, not the old one


def test_a_mistyped_setting_in_env_is_pointed_out(folders, tmp_path, capsys):
    (tmp_path / ".env").write_text("TOPK=1\nMIN_SCORE=0.5\nMY_OWN_THING=1\n")
    assert main(["ask", TRUCE]) == 0
    err = capsys.readouterr().err
    assert "note: ignoring unknown settings in .env: TOPK (did you mean TOP_K?), MY_OWN_THING." in err


def test_invalid_setting_is_reported(folders, capsys, monkeypatch):
    monkeypatch.setenv("TOP_K", "many")
    assert main(["ask", TRUCE]) == 2
    assert "TOP_K" in capsys.readouterr().err
