"""The int8 copy of a collection's vectors that every question is scored against (index/dense.py)."""
from __future__ import annotations

import numpy as np
import pytest

from index.dense import QuantizedCosines, QuantizedRows, quantize_transposed


def unit_rows(count: int, dimension: int = 384, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def collection():
    """1,000 passages of 1 to 6 sentences, their vectors near their sentences' mean as real passages' are."""
    rng = np.random.default_rng(1)
    counts = rng.integers(1, 7, 1000)
    sentence_vectors = unit_rows(int(counts.sum()), seed=2)
    sentence_passage = np.repeat(np.arange(len(counts)), counts)
    sums = np.zeros((len(counts), sentence_vectors.shape[1]), dtype=np.float32)
    np.add.at(sums, sentence_passage, sentence_vectors)
    passage_vectors = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    return passage_vectors, sentence_vectors, sentence_passage


def test_codes_give_back_each_row_within_half_a_step():
    vectors = unit_rows(300, seed=3) * np.linspace(0.1, 3.0, 300, dtype=np.float32)[:, None]
    codes, scales = quantize_transposed(vectors)
    assert codes.dtype == np.int8 and codes.shape == (384, 300)
    assert np.abs(codes).max() == 127  # each row's largest magnitude uses the whole range
    restored = codes.T.astype(np.float32) * scales[:, None]
    assert np.all(np.abs(restored - vectors) <= scales[:, None] / 2 + 1e-6)


def test_an_all_zero_row_scores_zero_not_nan(collection):
    passage_vectors, sentence_vectors, sentence_passage = collection
    passage_vectors = passage_vectors.copy()
    passage_vectors[5] = 0.0
    passages, sentences, best = QuantizedCosines.of(passage_vectors, sentence_vectors, sentence_passage).scores(sentence_vectors[0])
    assert passages[5] == 0.0
    assert np.isfinite(passages).all() and np.isfinite(sentences).all() and np.isfinite(best).all()


def test_cosines_are_those_of_float32_within_a_few_thousandths(collection):
    passage_vectors, sentence_vectors, sentence_passage = collection
    scorer = QuantizedCosines.of(passage_vectors, sentence_vectors, sentence_passage)
    for question in unit_rows(20, seed=4):
        passages, sentences, _ = scorer.scores(question)
        assert passages.shape == (len(passage_vectors),) and sentences.shape == (len(sentence_vectors),)
        assert np.abs(passages - passage_vectors @ question).max() < 0.005
        assert np.abs(sentences - sentence_vectors @ question).max() < 0.005


def test_the_nearest_rows_are_found(collection):
    """A question close to one sentence finds that sentence and its passage first."""
    passage_vectors, sentence_vectors, sentence_passage = collection
    scorer = QuantizedCosines.of(passage_vectors, sentence_vectors, sentence_passage)
    noise = unit_rows(10, seed=5)
    for row, extra in zip((0, 17, 999, len(sentence_vectors) - 1, 2500, 42, 1234, 3000, 7, 600), noise):
        question = sentence_vectors[row] + 0.3 * extra
        question /= np.linalg.norm(question)
        passages, sentences, best = scorer.scores(question)
        assert int(np.argmax(sentences)) == row
        assert int(np.argmax(best)) == sentence_passage[row]


def test_each_passage_gets_its_best_sentence(collection):
    passage_vectors, sentence_vectors, sentence_passage = collection
    scorer = QuantizedCosines.of(passage_vectors, sentence_vectors, sentence_passage)
    _, sentences, best = scorer.scores(unit_rows(1, seed=6)[0])
    expected = np.full(len(passage_vectors), -np.inf, dtype=np.float32)
    np.maximum.at(expected, sentence_passage, sentences)
    np.testing.assert_array_equal(best, expected)


@pytest.mark.parametrize("layout", ["one changed in the middle", "reordered", "all new", "all kept"])
def test_codes_taken_over_by_an_update_are_those_of_quantizing_afresh(layout):
    """An update keeps the codes of unchanged rows, wherever they moved, and quantizes the new ones."""
    old_vectors, new_vectors = unit_rows(500, seed=7), unit_rows(60, seed=8)
    rng = np.random.default_rng(9)
    if layout == "one changed in the middle":
        previous_rows = np.concatenate((np.arange(200), np.full(60, -1), np.arange(230, 500)))
    elif layout == "reordered":
        previous_rows = np.concatenate((rng.permutation(500)[:300], np.full(60, -1)))
        previous_rows = previous_rows[rng.permutation(len(previous_rows))]
    elif layout == "all new":
        previous_rows = np.full(60, -1)
    else:
        previous_rows = np.arange(500)
    vectors = np.empty((len(previous_rows), 384), dtype=np.float32)
    vectors[previous_rows >= 0] = old_vectors[previous_rows[previous_rows >= 0]]
    vectors[previous_rows < 0] = new_vectors[: int((previous_rows < 0).sum())]
    carried = QuantizedRows.carried(QuantizedRows.of(old_vectors), previous_rows, vectors)
    afresh = QuantizedRows.of(vectors)
    np.testing.assert_array_equal(carried.codes, afresh.codes)
    np.testing.assert_array_equal(carried.scales, afresh.scales)
