"""Choosing the window weights of index/search.py (FusionWeights.window_*) on SQuAD, with cross-validation
across articles: weights are fitted on the questions of half the articles and measured on the other half's,
both ways round, over several random splits, so the figures estimate quality on articles never seen.

The fit is a linear listwise model: for each question, a softmax over its candidate windows, trained to put
the windows that hold a gold answer first. Features come from the library itself (ArticleIndex._windows),
so what is fitted is exactly what searches compute.

    python bench/tune.py --workdir /tmp/sq --index-dir /tmp/sq/index     # CV figures and fitted weights
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # noqa: E402  (also puts the project on sys.path)
import squad  # noqa: E402

from index.quotes import quote_text  # noqa: E402
from index.search import WINDOW_FEATURES, FusionWeights, choose_windows, weights_from_vectors  # noqa: E402
from index.text import collapse_whitespace  # noqa: E402


def question_vectors(index, questions, cache: Path | None) -> np.ndarray:
    if cache is not None and cache.is_file():
        vectors = np.load(cache)
        if len(vectors) == len(questions):
            return vectors
    vectors = index.embedder.encode([collapse_whitespace(q.text) for q in questions], batch_size=64)
    if cache is not None:
        np.save(cache, vectors)
    return vectors


def window_data(index, questions, vectors, top_k: int = 10):
    """Per question: (features, labels, windows) for every candidate window."""
    snapshot = index.snapshot
    table = snapshot.sentence_table
    texts = [snapshot.articles[snapshot.passages[int(table.sentence_passage[r])].article_id].text for r in range(table.size)]
    data = []
    for question, vector in zip(questions, vectors):
        text = collapse_whitespace(question.text)
        windows = index._windows(snapshot, text, vector, top_k, None)
        labels = np.array(
            [  # quoted as searches quote them
                squad.holds_answer(quote_text(texts[a], index.quote_window(snapshot, text, a, b), index.quote_limit), question.answers)
                for a, b in zip(windows.first.tolist(), windows.last.tolist())
            ]
        )
        data.append((windows.features, labels, windows))
    return data


# Features that enter the squared term; the others count linearly only.
FOCUS = ("passage_dense", "passage_sentence", "passage_terms", "best_sentence", "terms", "sentence_terms")


def fit(data, columns: list[int] | None = None, focus: list[int] | None = None, l2: float = 1e-3):
    """Window and focus weights (full length, zero outside ``columns``/``focus``) maximizing the softmax
    likelihood of the answer-holding windows, for scores ``x . w + (x . f)^2``."""
    from scipy.optimize import minimize

    width = data[0][0].shape[1]
    columns = list(range(width)) if columns is None else columns
    focus = [WINDOW_FEATURES.index(name) for name in FOCUS] if focus is None else focus
    items = [(x, y.astype(np.float64)) for x, y, _ in data if y.any()]
    features = np.concatenate([x for x, _ in items]).astype(np.float64)
    linear, squared = features[:, columns], features[:, focus]
    labels = np.concatenate([y for _, y in items])
    lengths = np.array([len(y) for _, y in items])
    segments = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    n = len(columns)

    def loss(p):
        z = squared @ p[n:]
        s = linear @ p[:n] + z * z
        s = s - np.repeat(np.maximum.reduceat(s, segments), lengths)
        e = np.exp(s)
        total = np.add.reduceat(e, segments)
        positive = np.add.reduceat(e * labels, segments)
        value = -np.log(positive / total + 1e-12).mean() + l2 * (p @ p)
        g = e / np.repeat(total, lengths) - e * labels / np.repeat(positive, lengths)
        gradient = np.concatenate([(g[:, None] * linear).sum(0), ((2 * g * z)[:, None] * squared).sum(0)])
        return value, gradient / len(items) + 2 * l2 * p

    start = np.concatenate([np.zeros(n), np.full(len(focus), 0.5)])
    p = minimize(loss, start, jac=True, method="L-BFGS-B").x
    window, squares = np.zeros(width), np.zeros(width)
    window[columns], squares[focus] = p[:n], p[n:]
    return window, squares


def scores(features: np.ndarray, weights) -> np.ndarray:
    window, focus = weights
    z = features @ focus
    return features @ window + z * z


def hits(data, weights, max_shared: float = 0.0) -> np.ndarray:
    """hit@1, @3, @5 with windows chosen as searches choose them."""
    found = np.zeros(3)
    for features, labels, windows in data:
        chosen = choose_windows(replace(windows, scores=scores(features, weights)), 5, max_shared)
        found += [labels[chosen[:k]].any() for k in (1, 3, 5)]
    return found / max(1, len(data))


def cross_validate(data, article_of: np.ndarray, seeds: int = 3, columns=None, focus=None):
    articles = sorted(set(article_of))
    results = []
    for seed in range(seeds):
        order = list(articles)
        np.random.default_rng(seed).shuffle(order)
        total = np.zeros(3)
        for half in (order[0::2], order[1::2]):
            test = np.isin(article_of, half)
            weights = fit([data[i] for i in np.flatnonzero(~test)], columns, focus)
            total += hits([data[i] for i in np.flatnonzero(test)], weights) * test.sum()
        results.append(total / len(data))
    return np.array(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad", help="SQuAD v1.1 JSON (default: $SQUAD_PATH or the shared bench file)")
    parser.add_argument("--workdir", type=Path, required=True, help="folder for the articles")
    parser.add_argument("--index-dir", type=Path, required=True, help="saved index to reuse (built if missing)")
    parser.add_argument("--backend", help="embedding backend (default: the library's default)")
    parser.add_argument("--seeds", type=int, default=3, help="random article splits to average over")
    parser.add_argument("--ablate", action="store_true", help="also cross-validate without each feature in turn")
    options = parser.parse_args(argv)

    articles = squad.read_articles(squad.load_squad(squad.squad_path(options.squad)))
    squad.write_articles(articles, options.workdir / "articles")
    questions = articles.questions
    index, _ = quality.open_bench_index(options.workdir / "articles", options.index_dir, False, options.backend)
    vectors = question_vectors(index, questions, options.index_dir / "question_vectors.npy")
    started = time.perf_counter()
    data = window_data(index, questions, vectors)
    print(f"{len(data)} questions, {sum(len(y) for _, y, _ in data) / len(data):.0f} windows each "
          f"({time.perf_counter() - started:.0f} s)")
    article_of = np.array([q.article_id for q in questions])
    defaults = FusionWeights()
    current = (defaults.window_vector().astype(np.float64), defaults.focus_vector().astype(np.float64))
    print("current defaults, all questions: hit@1/3/5", np.round(hits(data, current), 4))
    cv = cross_validate(data, article_of, options.seeds)
    print(f"cross-validated (2 folds x {options.seeds} splits): hit@1/3/5", np.round(cv.mean(0), 4), "spread", np.round(cv.std(0), 4))
    if options.ablate:
        linear_only = cross_validate(data, article_of, options.seeds, None, []).mean(0)
        print("  linear only (no squared term)", np.round(linear_only, 4))
        for left_out, name in enumerate(WINDOW_FEATURES):
            columns = [c for c in range(len(WINDOW_FEATURES)) if c != left_out]
            focus = [WINDOW_FEATURES.index(f) for f in FOCUS if f != name]
            figures = cross_validate(data, article_of, options.seeds, columns, focus).mean(0)
            print(f"  without {name:18s}", np.round(figures, 4))
    weights = fit(data)
    print("fitted on all questions: hit@1/3/5", np.round(hits(data, weights), 4))
    print(weights_from_vectors(*weights))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
