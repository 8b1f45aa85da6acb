"""Answer quality on SQuAD v1.1 dev articles, measured through the real library (ArticleIndex).

Each SQuAD article becomes a plain-text file (title on the first line, then its paragraphs separated by
blank lines); the folder is indexed with ``ArticleIndex.sync_folder`` and every question goes through
``ArticleIndex.search``, the path the CLI and the bot use.

Figures (all computed on the results whether or not the search abstained):
  answer-hit@k     a gold answer occurs (case-insensitively, whitespace collapsed) in one of the top k quotes
  highlight hit@1  the same for the highlighted sentence of the top result
  recall@k         one of the top k quotes lies inside the question's source paragraph
  overlap@k        one of the top k quotes overlaps it (quotes may run across paragraphs of a section)
  MRR@10           mean reciprocal rank of the first quote holding a gold answer
  abstained        share of questions answered with ``answered=False``

``--abstention`` also indexes every other article only and asks both halves' questions: how often the
index abstains on questions it can answer, and how often it quotes something for questions it cannot.

    python bench/quality.py                 # everything, fresh build
    python bench/quality.py --limit 500     # a quick look
    python bench/quality.py --index-dir /tmp/squad-index   # reuse saved vectors between runs
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(PROJECT_ROOT / "bench"))

from index import ArticleIndex, DEFAULT_MIN_SCORE, EmbedderSpec  # noqa: E402
from index.errors import IndexStoreError  # noqa: E402
from squad import (  # noqa: E402  (the parts shared with bench/peers/)
    DEFAULT_SQUAD,
    TOP_K,
    AnswerHits,
    Question,
    holds_answer,
    load_squad,
    median_ms,
    read_articles,
    sample_questions,
    squad_path,
    write_articles,
)


def open_bench_index(
    articles: Path, index_dir: Path | None, rebuild: bool, backend: str | None = None, threads: int | None = None
) -> tuple[ArticleIndex, dict]:
    """``backend`` and ``threads`` None are the library's defaults, as the CLI uses."""
    index = ArticleIndex(EmbedderSpec(**({"backend": backend} if backend else {}), threads=threads))
    started = time.perf_counter()
    index.embedder  # load the model up front so it is not counted in the build
    timings = {"model": index.model_id, "model_load_s": time.perf_counter() - started, "loaded_saved_index": False}
    if index_dir is not None and not rebuild:
        try:
            timings["loaded_saved_index"] = index.load(index_dir)
        except IndexStoreError as error:
            print(f"(ignoring the saved index: {error})", file=sys.stderr)
    started = time.perf_counter()
    report = index.sync_folder(articles)
    timings["build_s"] = time.perf_counter() - started
    timings["passages"] = report.passages
    timings["sentences"] = int(index.snapshot.sentence_vectors.shape[0])
    if index_dir is not None and (report.changed or not timings["loaded_saved_index"]):
        index.save(index_dir)
    return index, timings


def check_articles(index: ArticleIndex, texts: dict[str, str]) -> list[str]:
    """Warnings if the loader did not read an article as written (the offsets would be wrong)."""
    problems = []
    for article in index.articles():
        if article.text != texts.get(article.id):
            problems.append(f"{article.id}: the indexed text differs from the file written")
        headed = [s.heading for s in article.sections if s.heading]
        if headed:
            problems.append(f"{article.id}: {len(headed)} paragraph(s) read as headings, e.g. {headed[0]!r}")
    return problems


def evaluate(index: ArticleIndex, questions: list[Question]) -> dict:
    answer_hits = AnswerHits()
    recall = {1: 0, 5: 0}
    touch = {1: 0, 5: 0}
    highlight_hits = abstained = 0
    timings = []
    for question in questions:
        started = time.perf_counter()
        answer = index.search(question.text, top_k=TOP_K)
        timings.append(time.perf_counter() - started)
        results = answer.results
        abstained += not answer.answered
        answer_hits.add([r.quote for r in results], question.answers)
        inside = [r.article_id == question.article_id and question.start <= r.start and r.end <= question.end for r in results]
        touching = [r.article_id == question.article_id and r.start < question.end and question.start < r.end for r in results]
        for k in recall:
            recall[k] += any(inside[:k])
            touch[k] += any(touching[:k])
        if results:
            highlight_hits += holds_answer(results[0].highlight, question.answers)
    n = max(1, len(questions))
    return {
        "questions": len(questions),
        **answer_hits.figures(),
        "highlight_hit@1": highlight_hits / n,
        **{f"recall@{k}": recall[k] / n for k in recall},
        **{f"overlap@{k}": touch[k] / n for k in touch},
        "abstained": abstained / n,
        "median_ms": median_ms(timings),
        "p95_ms": 1000 * sorted(timings)[int(0.95 * (len(timings) - 1))] if timings else 0.0,
    }


def encoder_ms(index: ArticleIndex, questions: list[Question], sample: int = 200) -> float:
    """Median time to encode one question alone: the part of a search that is the model."""
    timings = []
    for question in questions[:sample]:
        started = time.perf_counter()
        index.embedder.encode([question.text])
        timings.append(time.perf_counter() - started)
    return median_ms(timings)


def abstention(index: ArticleIndex, questions: list[Question], limit: int | None) -> dict:
    """Index every other article; ask the indexed half's questions (answerable) and the rest (unanswerable).
    Both ways round, then the index is restored."""
    everything = index.articles()
    ids = [a.id for a in everything]
    wrong_abstain = answerable = noise = unanswerable = 0
    for half in (0, 1):
        kept = set(ids[half::2])
        index.index([a for a in everything if a.id in kept])  # reuses the vectors already computed
        for question in questions[: limit] if limit else questions:
            answer = index.search(question.text, top_k=1)
            if question.article_id in kept:
                answerable += 1
                wrong_abstain += not answer.answered
            else:
                unanswerable += 1
                noise += answer.answered
    index.index(everything)
    return {
        "min_score": index.min_score,
        "answerable": answerable,
        "abstained_on_answerable": wrong_abstain / max(1, answerable),
        "unanswerable": unanswerable,
        "answered_unanswerable": noise / max(1, unanswerable),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad", help=f"SQuAD v1.1 JSON (default: $SQUAD_PATH or {DEFAULT_SQUAD})")
    parser.add_argument("--workdir", type=Path, help="folder for the articles (default: a temporary folder)")
    parser.add_argument("--index-dir", type=Path, help="save the index here and reuse its vectors on later runs")
    parser.add_argument("--rebuild", action="store_true", help="with --index-dir: ignore the saved index")
    parser.add_argument("--backend", help="embedding backend (default: the library's default, as the CLI uses)")
    parser.add_argument("--limit", type=int, help="ask only the first N questions (spread over all articles)")
    parser.add_argument("--abstention", action="store_true", help="also measure abstention on unanswerable questions")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args(argv)

    squad = load_squad(squad_path(options.squad))
    articles = read_articles(squad)
    with tempfile.TemporaryDirectory(prefix="squad-bench-") as temporary:
        folder = (options.workdir or Path(temporary)) / "articles"
        write_articles(articles, folder)
        index, build = open_bench_index(folder, options.index_dir, options.rebuild, options.backend)
        for problem in check_articles(index, articles.texts):
            print(f"warning: {problem}", file=sys.stderr)
        asked = sample_questions(articles.questions, options.limit)
        figures = {"articles": len(squad), **build, **evaluate(index, asked), "encoder_ms": encoder_ms(index, asked)}
        if options.abstention:
            figures["abstention"] = abstention(index, asked, None)

    if options.json:
        print(json.dumps(figures, indent=1))
        return 0
    built = "loaded + synced" if figures["loaded_saved_index"] else "built"
    print(f"model {figures['model']}: {figures['articles']} articles, {figures['passages']} passages, {figures['sentences']} sentences; "
          f"index {built} in {figures['build_s']:.1f} s (model load {figures['model_load_s']:.1f} s)")
    print(f"{figures['questions']} questions, top {TOP_K} results each")
    print(f"  answer-hit@1 {figures['hit@1']:.1%}   @3 {figures['hit@3']:.1%}   @5 {figures['hit@5']:.1%}")
    print(f"  highlight hit@1 {figures['highlight_hit@1']:.1%}")
    print(f"  gold-paragraph recall@1 {figures['recall@1']:.1%}   @5 {figures['recall@5']:.1%}"
          f"   (quote overlapping it: @1 {figures['overlap@1']:.1%}   @5 {figures['overlap@5']:.1%})")
    print(f"  MRR@10 {figures['mrr@10']:.3f}")
    print(f"  abstained {figures['abstained']:.1%} (min score {DEFAULT_MIN_SCORE})")
    print(f"  median {figures['median_ms']:.1f} ms/question (p95 {figures['p95_ms']:.1f}; encoder alone {figures['encoder_ms']:.1f})")
    if "abstention" in figures:
        a = figures["abstention"]
        print(f"abstention (half the articles indexed, min score {a['min_score']}):")
        print(f"  abstained on {a['abstained_on_answerable']:.1%} of {a['answerable']} answerable questions")
        print(f"  quoted for {a['answered_unanswerable']:.1%} of {a['unanswerable']} unanswerable questions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
