"""The SQuAD v1.1 benchmark's shared, dependency-free parts: reading the articles and questions, and scoring
ranked quotes against the gold answers.

Standard library only, so that bench/quality.py (our index, the project's venv) and the scripts in
bench/peers/ (other libraries, their own venv) read the same questions and score them with the same code.

Answer-hit@k: a gold answer occurs, case-insensitively and with whitespace collapsed, in one of the top k
quotes as shown (at most QUOTE_CHARS characters). MRR@10: mean reciprocal rank of the first such quote.
"""
from __future__ import annotations

import json
import os
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SQUAD = Path(__file__).resolve().parents[2] / "shared" / "bench" / "squad-dev-public.json"
TOP_K = 10  # results asked for per question; MRR is computed over them
HIT_RANKS = (1, 3, 5)
QUOTE_CHARS = 600  # the longest quote shown, ours (index.quotes.QUOTE_LIMIT) and the peers' alike
_WHITESPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip().casefold()


def holds_answer(quote: str, answers: tuple[str, ...]) -> bool:
    quote = normalize(quote)
    return any(normalize(answer) in quote for answer in answers)


def quote_of(document: str, limit: int = QUOTE_CHARS) -> str:
    """The peers' quote: the retrieved document from its start, cut at the quote limit."""
    return document[:limit]


@dataclass(frozen=True, slots=True)
class Question:
    article_id: str
    text: str
    answers: tuple[str, ...]
    start: int  # the source paragraph's offsets in the article's text
    end: int


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One SQuAD paragraph: the unit the peers index as a document."""

    article_id: str
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class SquadArticles:
    texts: dict[str, str]  # article file name -> title, blank line, paragraphs separated by blank lines
    paragraphs: list[Paragraph]
    questions: list[Question]


def squad_path(option: str | None) -> Path:
    return Path(option or os.environ.get("SQUAD_PATH") or DEFAULT_SQUAD).expanduser()


def load_squad(path: Path) -> list[dict]:
    if not path.is_file():
        sys.exit(
            f"SQuAD file not found: looked for {path}\n"
            f"(default {DEFAULT_SQUAD}; pass --squad PATH or set SQUAD_PATH)."
        )
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    return data["data"] if isinstance(data, dict) and "data" in data else data


def read_articles(squad: list[dict]) -> SquadArticles:
    """Every article as one text, every paragraph (whitespace collapsed) and every answerable question."""
    texts: dict[str, str] = {}
    paragraphs: list[Paragraph] = []
    questions: list[Question] = []
    for number, article in enumerate(squad):
        title = " ".join(article["title"].replace("_", " ").split())
        article_id = f"{number:02d}_{re.sub(r'[^A-Za-z0-9]+', '_', title).strip('_')}.txt"
        text = title
        for paragraph in article["paragraphs"]:
            # The official SQuAD files call it "context"; the public copy here calls it "text".
            body = " ".join(paragraph.get("context", paragraph.get("text", "")).split())
            text += "\n\n"
            start = len(text)
            text += body
            paragraphs.append(Paragraph(article_id, title, body))
            for qa in paragraph["qas"]:
                answers = tuple(a["text"] if isinstance(a, dict) else str(a) for a in qa["answers"])
                if answers:
                    questions.append(Question(article_id, qa["question"], answers, start, len(text)))
        texts[article_id] = text + "\n"
    return SquadArticles(texts, paragraphs, questions)


def write_articles(articles: SquadArticles, folder: Path) -> list[Path]:
    """One plain-text file per article (rewritten only if it changed, so a saved index stays valid)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for article_id, text in articles.texts.items():
        path = folder / article_id
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        files.append(path)
    return files


def sample_questions(questions: list[Question], limit: int | None) -> list[Question]:
    """Every n-th question, so that a quick run still covers every article; all of them without a limit."""
    if not limit:
        return questions
    step = max(1, len(questions) // limit)
    return questions[::step][:limit]


@dataclass
class AnswerHits:
    """Answer-hit@k and MRR@10 over ranked quotes, one question at a time."""

    questions: int = 0
    hits: dict[int, int] = field(default_factory=lambda: dict.fromkeys(HIT_RANKS, 0))
    reciprocal_ranks: float = 0.0

    def add(self, quotes: list[str], answers: tuple[str, ...]) -> None:
        found = [holds_answer(quote, answers) for quote in quotes[:TOP_K]]
        self.questions += 1
        for k in self.hits:
            self.hits[k] += any(found[:k])
        first = next((rank for rank, hit in enumerate(found, 1) if hit), None)
        self.reciprocal_ranks += 1 / first if first else 0.0

    def figures(self) -> dict[str, float]:
        n = max(1, self.questions)
        return {**{f"hit@{k}": hits / n for k, hits in self.hits.items()}, f"mrr@{TOP_K}": self.reciprocal_ranks / n}


def median_ms(seconds: list[float]) -> float:
    return 1000 * statistics.median(seconds) if seconds else 0.0
