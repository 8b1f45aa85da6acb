"""The keyword index: a question's terms are the terms its passages were indexed with."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index import kernels
from index.keyword import KeywordIndex
from index.tokens import text_terms

# numpy, and the compiled kernel where the install built it
WAYS = [False, True] if kernels.COMPILED else [False]

WORDS = st.sampled_from(
    "The the Running runs ran, lighthouse's LIGHTHOUSES keepers Ærø naïve café 1844 x a I it's don't co-op "
    "e-mail well-known über Straße résumé 東京 ﬁne".split()
)


@given(st.lists(st.one_of(WORDS, st.text(max_size=12)), max_size=12).map(" ".join))
@settings(max_examples=300, deadline=None)
def test_question_and_passage_terms_are_what_bm25s_tokenize_makes(question):
    import bm25s
    import Stemmer

    made = bm25s.tokenize([question], stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False, show_progress=False)
    expected = [term for term in made[0] if term]  # bm25s gives [""] when nothing is left
    assert KeywordIndex.build(["a lighthouse keeper"]).query_terms(question) == expected
    assert text_terms([question, "a lighthouse keeper"])[0] == expected


def test_question_terms_stay_right_when_the_remembered_words_fill_up(monkeypatch):
    from index import tokens

    monkeypatch.setattr(tokens, "_QUESTION_WORD_TERMS", {})
    monkeypatch.setattr(tokens, "_QUESTION_WORD_TERMS_LIMIT", 3)
    keyword = KeywordIndex.build(["a lighthouse keeper"])
    question = "Which keepers were running the lighthouses when the storms came, and who relieved them?"
    expected = text_terms([question])[0]
    assert [keyword.query_terms(question) for _ in range(3)] == [expected] * 3
    assert len(tokens._QUESTION_WORD_TERMS) <= 3  # emptied whenever full


def test_scores_rank_the_passage_holding_the_question_terms_first():
    index = KeywordIndex.build(["Keepers lit the lamps at dusk.", "The tower was finished in 1844.", "Gulls nest on the rock."])
    scores = index.scores(index.query_terms("When was the tower finished?"))
    assert scores.argmax() == 1 and scores[0] == scores[2] == 0
    assert not index.scores(index.query_terms("the of and")).any()  # stop words only


def bm25s_scores(texts: list[str], question_terms: list[str]) -> np.ndarray:
    """What bm25s itself (default settings) scores for these texts."""
    import bm25s
    import Stemmer

    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), show_progress=False), show_progress=False)
    known = [term for term in question_terms if term in retriever.vocab_dict]
    return retriever.get_scores(known) if known else np.zeros(len(texts), dtype=np.float32)


@given(
    texts=st.lists(st.lists(st.one_of(WORDS, st.text(max_size=12)), max_size=30).map(" ".join), min_size=1, max_size=8),
    question=st.lists(WORDS, max_size=8).map(" ".join),
)
@settings(max_examples=200, deadline=None)
def test_scores_are_bm25s_scores_to_the_last_bit(texts, question):
    texts = [*texts, "lighthouse keepers"]  # bm25s cannot index texts without a single term
    index = KeywordIndex.build(texts)
    terms = index.query_terms(question)  # repeated and unknown terms included
    expected = bm25s_scores(texts, terms)
    for compiled in WAYS:
        np.testing.assert_array_equal(index.scores(terms, compiled=compiled), expected)


def test_scores_of_longer_texts_are_bm25s_scores():
    texts = [
        "The Northern Lighthouse Board was set up in 1786 to build lights on the dangerous Scottish coast.",
        "Keepers lived at the lights in teams of three, working in shifts through the night. " * 3,
        "the of and it is",  # stop words only: a document of no terms
        "Bees make honey from nectar; a strong colony can store more than twenty kilograms of honey.",
        "",
    ]
    index = KeywordIndex.build(texts)
    for question in ("lights keepers night night", "honey honey colony", "Scottish coast 1786", "nothing known here"):
        terms = index.query_terms(question)
        expected = bm25s_scores(texts, terms)
        for compiled in WAYS:
            np.testing.assert_array_equal(index.scores(terms, compiled=compiled), expected)


@pytest.mark.skipif(not kernels.COMPILED, reason="index._kernels was not built (no C compiler when the project was installed)")
def test_the_bm25_kernel_refuses_postings_it_cannot_read():
    index = KeywordIndex.build(["Keepers lit the lamps at dusk.", "The tower was finished in 1844."])
    pointer, documents, weights = index._pointer, index._documents, index._weights
    scores = np.empty(2, dtype=np.float32)
    kernel = kernels.compiled.bm25_scores
    with pytest.raises(ValueError, match="not in the vocabulary"):
        kernel(pointer, documents, weights, np.array([len(pointer)], dtype=np.int64), scores)
    with pytest.raises(ValueError, match="not one of the scores"):
        kernel(pointer, documents, weights, np.array([0], dtype=np.int64), scores[:0])
    with pytest.raises(ValueError, match="weights must match documents"):
        kernel(pointer, documents, weights[:-1], np.array([0], dtype=np.int64), scores)
    with pytest.raises(TypeError, match="term_ids must be a contiguous 1D int64 array"):
        kernel(pointer, documents, weights, np.array([0.0]), scores)
