"""The whole question path at scale: ArticleIndex.search (FAISS pool, BM25, exact scores for the pool, quote
windows) on a collection of N passages, with the approximate passage index against exact search.

The collection is the SQuAD articles copied until it holds N passages. Embedding N passages would take hours
here, so each copy's vectors are perturbed copies of the real ones (cosine about 0.95 to the original): the
texts, sections, BM25 index and quote windows are real, and every question has one true home per copy.

Figures:
  build            ArticleIndex.index on the copies (chunking, BM25, sentence table, FAISS), embedding excluded
  open / RSS       a fresh process loading the saved index (memory-mapped) and answering one question; its
                   resident memory split into private memory and pages of the mapped index files (page
                   cache, shared between processes; the kernel maps whole large folios of a file on a fault)
  search p50/p99   ArticleIndex.search per question (question vectors given), approximate and exact
  same top quote   share of questions whose first quote is the same text with both

    python bench/scale.py --passages 100000
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # noqa: E402  (also puts the project on sys.path)
import speed  # noqa: E402
from squad import load_squad, read_articles, sample_questions, squad_path, write_articles  # noqa: E402

from index import ArticleIndex, EmbedderSpec  # noqa: E402
from index.collection import passage_context, sentence_context  # noqa: E402
from index.embedding import Embedder  # noqa: E402
from index.text import collapse_whitespace  # noqa: E402

# Noise added to each real vector before renormalizing: cosine 1/sqrt(1 + NOISE^2), about 0.95, to the original.
NOISE = 0.33


class ReplayEmbedder(Embedder):
    """Gives each known text its real vector plus fresh noise, so copies of a passage are near, not equal."""

    backend = "replay"

    def __init__(self, real: Embedder, vectors: dict[str, np.ndarray], seed: int = 0) -> None:
        super().__init__(real.model_path)
        self.model_id = real.model_id  # so the saved index opens with the real model's settings
        self._vectors = vectors
        self._random = np.random.default_rng(seed)
        self._dimension = real.dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        base = np.stack([self._vectors[text] for text in texts])
        noisy = base + NOISE / math.sqrt(self._dimension) * self._random.standard_normal(base.shape).astype(np.float32)
        return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


def known_vectors(index: ArticleIndex) -> dict[str, np.ndarray]:
    """What the real index embedded for each passage and sentence, by the text it embedded."""
    snapshot = index.snapshot
    vectors: dict[str, np.ndarray] = {}
    sentence_row = 0
    for row, passage in enumerate(snapshot.passages):
        article = snapshot.articles[passage.article_id]
        vectors[passage_context(article, passage)] = np.asarray(snapshot.passage_vectors[row])
        for sentence in passage.sentences:
            vectors[sentence_context(article, sentence)] = np.asarray(snapshot.sentence_vectors[sentence_row])
            sentence_row += 1
    return vectors


def copies_of(index: ArticleIndex, passages: int) -> list:
    """Enough copies of the articles (same text and title, another id) to reach ``passages`` passages."""
    copies = math.ceil(passages / len(index.snapshot.passages))
    articles = index.articles()
    return [replace(a, id=f"copy{number:05d}/{a.id}") for number in range(copies) for a in articles]


def open_in_fresh_process(index_dir: Path, question: str) -> dict:
    """Seconds to load the saved index and answer one question, and the resident memory then, in a new process."""
    code = (
        "import json, resource, sys, time; t = time.perf_counter();"
        "from index import ArticleIndex, EmbedderSpec; index = ArticleIndex(EmbedderSpec());"
        f"index.load(__import__('pathlib').Path({str(index_dir)!r})); opened = time.perf_counter() - t;"
        f"answer = index.search({question!r}); answered = time.perf_counter() - t;"
        "status = dict(line.split(':', 1) for line in open('/proc/self/status'));"
        "kb = lambda key: int(status[key].split()[0]) / 1024;"
        "print(json.dumps({'open_s': opened, 'first_answer_s': answered,"
        " 'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,"
        " 'anon_mb': kb('RssAnon'), 'file_mb': kb('RssFile'), 'approximate': index.snapshot.approximate_passages is not None}))"
    )
    env = {**os.environ, "PYTHONPATH": str(quality.PROJECT_ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def timed_searches(index: ArticleIndex, questions: list[str], vectors: np.ndarray) -> tuple[list[float], list[str]]:
    times, top_quotes = [], []
    for question, vector in zip(questions, vectors):
        started = time.perf_counter()
        answer = index.search(question, 3, None, vector)
        times.append(1000 * (time.perf_counter() - started))
        top_quotes.append(answer.results[0].quote if answer.results else "")
    return times, top_quotes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=100_000, help="passages in the synthetic collection")
    parser.add_argument("--questions", type=int, default=500, help="SQuAD questions to time")
    parser.add_argument("--squad", help="SQuAD v1.1 JSON (default: $SQUAD_PATH or the shared bench file)")
    parser.add_argument("--workdir", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--index-dir", type=Path, help="saved index of the real SQuAD articles, reused between runs")
    options = parser.parse_args(argv)

    squad = read_articles(load_squad(squad_path(options.squad)))
    work = options.workdir or Path(tempfile.mkdtemp(prefix="article-bot-scale-"))
    write_articles(squad, work / "articles")
    real, _ = quality.open_bench_index(work / "articles", options.index_dir, False)
    texts = [collapse_whitespace(q.text) for q in sample_questions(squad.questions, options.questions)]
    question_vectors = real.embedder.encode(texts)

    replay = ReplayEmbedder(real.embedder, known_vectors(real))
    articles = copies_of(real, options.passages)
    built = ArticleIndex(replay)
    started = time.perf_counter()
    report = built.index(articles)
    build_s = time.perf_counter() - started
    index_dir = work / "index"
    started = time.perf_counter()
    built.save(index_dir)
    save_s = time.perf_counter() - started
    del built
    fresh = open_in_fresh_process(index_dir, texts[0])

    approximate = ArticleIndex(EmbedderSpec())
    approximate.load(index_dir)
    exact = ArticleIndex(EmbedderSpec(), approximate_threshold=sys.maxsize)
    exact.load(index_dir)
    timed_searches(approximate, texts[:50], question_vectors[:50])  # warm: pages in, as a serving index would be
    timed_searches(exact, texts[:50], question_vectors[:50])
    ours, ours_top = timed_searches(approximate, texts, question_vectors)
    flat, flat_top = timed_searches(exact, texts, question_vectors)
    same = sum(a == b for a, b in zip(ours_top, flat_top)) / len(texts)

    table = speed.Table()
    table.section(f"ArticleIndex at {report.passages:,} passages ({report.articles:,} articles, {len(texts)} questions)")
    kind = approximate.snapshot.approximate_passages.kind if approximate.snapshot.approximate_passages else "exact"
    table.add("index kind", f"{kind} / exact")
    table.add("build without embedding", f"{build_s:.0f} s (save {save_s:.1f} s)")
    table.add("open + first answer, fresh process", f"{fresh['open_s']:.1f} s + {fresh['first_answer_s'] - fresh['open_s']:.2f} s")
    table.add("peak RSS of that process; then private / mapped files",
              f"{fresh['peak_rss_mb']:.0f} MB; {fresh['anon_mb']:.0f} / {fresh['file_mb']:.0f} MB")
    table.add("search p50 (approximate / exact)", f"{statistics.median(ours):.1f} / {statistics.median(flat):.1f} ms",
              f"{speed.ratio(statistics.median(flat), statistics.median(ours))} faster")
    table.add("search p99 (approximate / exact)", f"{speed.percentile(ours, 99):.1f} / {speed.percentile(flat, 99):.1f} ms")
    table.add("same first quote as exact", f"{100 * same:.1f} %")
    print(table.render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
