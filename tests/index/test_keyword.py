"""The keyword index: a question's terms are the terms its passages were indexed with."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from index.keyword import KeywordIndex

WORDS = st.sampled_from(
    "The the Running runs ran, lighthouse's LIGHTHOUSES keepers Ærø naïve café 1844 x a I it's don't co-op "
    "e-mail well-known über Straße résumé 東京 ﬁne".split()
)


@given(st.lists(st.one_of(WORDS, st.text(max_size=12)), max_size=12).map(" ".join))
@settings(max_examples=300, deadline=None)
def test_question_terms_match_how_passages_are_tokenized(question):
    index = KeywordIndex.build(["a lighthouse keeper"])
    indexed_as = [term for term in index.terms([question])[0] if term]  # bm25s gives [""] when nothing is left
    assert index.query_terms(question) == indexed_as


def test_scores_rank_the_passage_holding_the_question_terms_first():
    index = KeywordIndex.build(["Keepers lit the lamps at dusk.", "The tower was finished in 1844.", "Gulls nest on the rock."])
    scores = index.scores(index.query_terms("When was the tower finished?"))
    assert scores.argmax() == 1 and scores[0] == scores[2] == 0
    assert not index.scores(index.query_terms("the of and")).any()  # stop words only
