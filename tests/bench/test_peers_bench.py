"""The SQuAD benchmark's shared scoring (bench/squad.py) and the peers' runner (bench/peers/run.py)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_ROOT / "bench"))

from squad import QUOTE_CHARS, AnswerHits, Question, quote_of, read_articles, sample_questions, write_articles  # noqa: E402

RUNNER = PROJECT_ROOT / "bench" / "peers" / "run.py"


def squad_file(folder: Path) -> Path:
    """Two small articles in SQuAD v1.1's shape; one paragraph uses the official "context" key."""
    data = {
        "data": [
            {
                "title": "Ocean_liners",
                "paragraphs": [
                    {
                        "context": "The RMS Titanic   sank in\nApril 1912 after striking an iceberg.",
                        "qas": [
                            {"question": "When did the Titanic sink?", "answers": [{"text": "April 1912", "answer_start": 26}]},
                            {"question": "What did it strike?", "answers": [{"text": "an iceberg", "answer_start": 51}]},
                            {"question": "Unanswerable here?", "answers": []},
                        ],
                    },
                    {"text": "Liners crossed the Atlantic in about five days.", "qas": [{"question": "How long was a crossing?", "answers": ["about five days"]}]},
                ],
            },
            {
                "title": "Glaciers",
                "paragraphs": [
                    {
                        "text": "A glacier moves under its own weight.",
                        "qas": [
                            {"question": "What moves a glacier?", "answers": ["its own weight"]},
                            {"question": "What moves under its own weight?", "answers": ["A glacier"]},
                        ],
                    }
                ],
            },
        ]
    }
    path = folder / "squad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def run_runner(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RUNNER), *arguments], capture_output=True, text=True, timeout=600)


def test_hits_and_mrr_count_the_first_quote_holding_a_gold_answer() -> None:
    hits = AnswerHits()
    hits.add(["Nothing relevant.", "It sank in APRIL\n   1912, at night."], ("April 1912", "1912"))  # rank 2
    hits.add(["Nothing."] * 10 + ["April 1912"], ("April 1912",))  # only below the top 10
    figures = hits.figures()
    assert figures["hit@1"] == 0
    assert figures["hit@3"] == figures["hit@5"] == 0.5
    assert figures["mrr@10"] == (1 / 2 + 0) / 2


def test_a_peers_quote_is_its_document_cut_at_the_quote_limit() -> None:
    answer = ("April 1912",)
    hits = AnswerHits()
    hits.add([quote_of("x" * QUOTE_CHARS + " April 1912")], answer)
    assert hits.figures()["hit@1"] == 0
    hits.add([quote_of("April 1912 " + "x" * QUOTE_CHARS)], answer)
    assert hits.figures()["hit@1"] == 0.5


def test_articles_paragraphs_and_questions_line_up(tmp_path: Path) -> None:
    articles = read_articles(json.loads(squad_file(tmp_path).read_text())["data"])
    assert [p.text for p in articles.paragraphs][0] == "The RMS Titanic sank in April 1912 after striking an iceberg."
    assert {p.title for p in articles.paragraphs} == {"Ocean liners", "Glaciers"}
    assert "Unanswerable here?" not in [q.text for q in articles.questions]
    paragraph_of = {(p.article_id, p.text) for p in articles.paragraphs}
    for question in articles.questions:
        assert (question.article_id, articles.texts[question.article_id][question.start : question.end]) in paragraph_of
    files = write_articles(articles, tmp_path / "articles")
    assert {f.name: f.read_text(encoding="utf-8") for f in files} == articles.texts


def test_a_limited_run_still_asks_about_every_article() -> None:
    questions = [Question(f"{article}.txt", f"question {n}?", ("answer",), 0, 1) for article in "abcd" for n in range(10)]
    asked = sample_questions(questions, 8)
    assert len(asked) == 8
    assert {q.article_id for q in asked} == {q.article_id for q in questions}
    assert sample_questions(questions, None) == questions


def test_peers_without_their_venv_are_rows_saying_how_to_set_it_up(tmp_path: Path) -> None:
    missing = tmp_path / "no-venv" / "bin" / "python"
    result = run_runner("--squad", str(squad_file(tmp_path)), "--skip-ours", "--peers", "txtai,haystack", "--peers-python", str(missing))
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "no peers python" in line]
    assert len(rows) == 2
    assert all(str(missing) in row and "bench/peers/README.md" in row for row in rows)


def test_a_peer_whose_library_is_missing_is_a_row_with_the_reason(tmp_path: Path) -> None:
    # The project's own venv has no txtai: the peer script starts, fails to import it, and says so.
    if importlib.util.find_spec("txtai") is not None:
        pytest.skip("txtai is installed in this venv")
    saved = tmp_path / "results.md"
    result = run_runner(
        "--squad", str(squad_file(tmp_path)), "--skip-ours", "--peers", "txtai", "--peers-python", sys.executable, "--save", str(saved)
    )
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("| txtai"))
    assert "not installed" in row and "txtai" in row.split("|")[-2]
    assert row in saved.read_text(encoding="utf-8")


def test_bad_options_get_a_clear_message(tmp_path: Path) -> None:
    result = run_runner("--squad", str(squad_file(tmp_path)), "--peers", "txtia")
    assert result.returncode != 0
    assert "unknown peer(s) txtia; choose from plain, langchain, txtai, haystack" in result.stderr
    result = run_runner("--squad", str(tmp_path / "missing.json"), "--skip-ours")
    assert result.returncode != 0
    assert f"SQuAD file not found: looked for {tmp_path / 'missing.json'}" in result.stderr
