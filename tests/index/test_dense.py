"""The 4-bit copy of a collection's vectors that ranks its passages for every question (index/dense.py), and the
int8 codes of the encoder's weights."""
from __future__ import annotations

import numpy as np
import pytest

from index.dense import BLOCK, QuantizedCosines, QuantizedRows, quantize_blocks, quantize_transposed


def unit_rows(count: int, dimension: int = 384, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def passage_vectors() -> np.ndarray:
    return unit_rows(1000, seed=1)


def test_codes_give_back_each_row_within_half_a_step():
    vectors = unit_rows(300, seed=3) * np.linspace(0.1, 3.0, 300, dtype=np.float32)[:, None]
    codes, scales = quantize_transposed(vectors)
    assert codes.dtype == np.int8 and codes.shape == (384, 300)
    assert np.abs(codes).max() == 127  # each row's largest magnitude uses the whole range
    restored = codes.T.astype(np.float32) * scales[:, None]
    assert np.all(np.abs(restored - vectors) <= scales[:, None] / 2 + 1e-6)


def unpacked(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """The values 4-bit codes stand for, per row."""
    levels = np.empty(codes.shape[:2] + (2 * codes.shape[2],), dtype=np.float32)
    levels[:, :, 0::2], levels[:, :, 1::2] = codes & 15, codes >> 4
    return ((levels - 8) * scales[:, :, None]).reshape(len(codes), -1)


@pytest.mark.parametrize("dimension", [384, 100])
def test_4_bit_codes_give_back_each_block_within_half_a_step(dimension):
    vectors = unit_rows(300, dimension, seed=3) * np.linspace(0.1, 3.0, 300, dtype=np.float32)[:, None]
    codes, scales = quantize_blocks(vectors)
    blocks = -(-dimension // BLOCK)
    assert codes.dtype == np.uint8 and codes.shape == (300, blocks, BLOCK // 2) and scales.shape == (300, blocks)
    restored = unpacked(codes, scales)
    assert not restored[:, dimension:].any()  # a short last block is padded with zeros
    steps = np.repeat(scales, BLOCK, axis=1)[:, :dimension]
    assert np.all(np.abs(restored[:, :dimension] - vectors) <= steps / 2 + 1e-6)
    # each block's largest magnitude uses the whole range: -7 or 7
    levels = np.abs(restored[:, :dimension] / steps)
    assert np.allclose(np.maximum.reduceat(levels, np.arange(0, dimension, BLOCK), axis=1), 7)


def test_an_all_zero_row_scores_zero_not_nan(passage_vectors):
    passage_vectors = passage_vectors.copy()
    passage_vectors[5] = 0.0
    cosines = QuantizedCosines.of(passage_vectors).scores(passage_vectors[0])
    assert cosines[5] == 0.0 and np.isfinite(cosines).all()


def test_cosines_are_those_of_float32_within_a_few_hundredths(passage_vectors):
    scorer = QuantizedCosines.of(passage_vectors)
    for question in unit_rows(20, seed=4):
        cosines = scorer.scores(question)
        assert cosines.shape == (len(passage_vectors),)
        errors = np.abs(cosines - passage_vectors @ question)
        assert errors.max() < 0.05 and errors.mean() < 0.01


def test_the_nearest_rows_are_found(passage_vectors):
    """A question close to one passage finds that passage first."""
    scorer = QuantizedCosines.of(passage_vectors)
    for row, extra in zip((0, 17, 999, 500, 42, 7, 600), unit_rows(7, seed=5)):
        question = passage_vectors[row] + 0.3 * extra
        question /= np.linalg.norm(question)
        assert int(np.argmax(scorer.scores(question))) == row


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
