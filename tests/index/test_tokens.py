"""The tokenized form of a collection (issue 6): an update tokenizes only the articles that changed, and what
searches use (BM25, the sentence table, the quote windows, the int8 vectors) comes out as a build from scratch
would make it."""
from __future__ import annotations

import numpy as np
import pytest
from test_properties import HashingEmbedder
from test_search import BEES, LIGHTHOUSES

from index import ArticleIndex
from index.loaders import article_from_bytes
from index.quotes import QUOTE_LIMIT
from index.records import Article
from index.search import PAIR_SHIFT
from index import snapshot as snapshot_module
from index.snapshot import IndexSnapshot
from index.tokens import TokenizedCollection

QUESTIONS = [
    "Which engineer shaped the granite blocks of Skerryvore?",
    "How do bees tell each other where to find food?",
    "When did the last keepers leave the lights?",
    "How much honey can a strong colony store?",
    "Which tides does the moon pull?",
]


def article(name: str, text: str) -> Article:
    return article_from_bytes(name, name, text.encode())


def collection() -> dict[str, Article]:
    """Articles with several sections and passages; one holds only stop words in a sentence."""
    variants = {
        "lighthouses.md": LIGHTHOUSES,
        "bees.txt": BEES,
        "tides.md": "# Tides\n\n## Moon\n\nThe moon's gravity pulls on the oceans. It is.\n\n## Sun\n\nThe sun adds a little.\n",
    }
    for number in range(4):
        variants[f"bees-{number}.txt"] = BEES.replace("Honeybees", f"Honeybees part {number}").replace("twenty", f"{number + 20}")
    return {name: article(name, text) for name, text in variants.items()}


@pytest.fixture(scope="module")
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture(autouse=True)
def scored_from_codes(monkeypatch):
    """These collections are small: rank them from the 4-bit copy all the same, so that updates carry it over."""
    monkeypatch.setattr(snapshot_module, "QUANTIZED_FROM_PASSAGES", 0)


def built(embedder, articles) -> IndexSnapshot:
    index = ArticleIndex(embedder)
    index.index(articles)
    return index.snapshot


def search_view(snapshot: IndexSnapshot) -> dict:
    """What searches read from a snapshot, by term rather than term id (ids depend on the order terms were met)."""
    table, keyword, windows = snapshot.sentence_table, snapshot.keyword, snapshot.windows(QUOTE_LIMIT)
    terms = sorted(snapshot.tokens.vocabulary)
    names = {i: t for t, i in snapshot.tokens.vocabulary.items()}
    pairs: dict[tuple[str, str], list[int]] = {}
    for key, row in zip(table._keys.tolist(), table._rows.tolist()):
        if key >> PAIR_SHIFT:  # a pair's key: its code with its first term's id one higher
            pairs.setdefault((names[(key >> PAIR_SHIFT) - 1], names[key & ((1 << PAIR_SHIFT) - 1)]), []).append(row)
    return {
        "arrays": {
            name: getattr(table, name).tolist()
            for name in ("passage_first", "passage_last", "sentence_passage", "cumulative", "section_first", "section_last")
        },
        "table terms": {
            term: (table.postings(np.array([i])).tolist(), float(table.idf[i])) for term, i in table.vocabulary.items()
        },
        "pairs": pairs,
        # every term alone, and the questions' terms together (repeated terms count twice in BM25)
        "bm25": {term: keyword.scores([term]).tolist() for term in terms if keyword.scores([term]).any()}
        | {q: keyword.scores(keyword.query_terms(q) * 2).tolist() for q in QUESTIONS},
        "windows": {name: getattr(windows, name).tolist() for name in ("pointer", "owner", "passage", "first", "last", "outside")},
        "norms": windows.norm,
        "4-bit codes": (snapshot.quantized_cosines.passage_rows.codes.tolist(), snapshot.quantized_cosines.passage_rows.scales.tolist()),
    }


def assert_same_search_view(got: IndexSnapshot, want: IndexSnapshot) -> None:
    got_view, want_view = search_view(got), search_view(want)
    np.testing.assert_allclose(got_view.pop("norms"), want_view.pop("norms"), rtol=1e-6)
    for part in want_view:
        assert got_view[part] == want_view[part], part


def test_updates_give_what_a_build_from_scratch_gives(embedder):
    articles = collection()
    index = ArticleIndex(embedder)
    index.index([articles["bees.txt"], articles["lighthouses.md"], articles["bees-0.txt"]])
    index.upsert([articles["tides.md"], articles["bees-1.txt"]])  # added
    index.upsert([article("bees.txt", BEES.replace("wax", "beeswax"))])  # updated
    index.delete(["lighthouses.md"])  # removed
    index.upsert([articles["lighthouses.md"], articles["bees-2.txt"]])  # back, at the end
    assert [a.id for a in index.articles()] == ["bees.txt", "bees-0.txt", "tides.md", "bees-1.txt", "lighthouses.md", "bees-2.txt"]
    # (every update carried the quote windows of the unchanged articles over: _install made them for the last)
    assert_same_search_view(index.snapshot, built(embedder, index.articles()))


def test_an_update_answers_as_a_build_from_scratch_does(embedder):
    articles = list(collection().values())
    index = ArticleIndex(embedder)
    index.index(articles[:-1])
    index.index([articles[-1], *articles[1:-1]])  # one added at the front, one removed
    scratch = ArticleIndex(embedder)
    scratch.index(index.articles())
    for question in QUESTIONS:
        assert index.search(question, top_k=5) == scratch.search(question, top_k=5)


def test_an_update_of_a_loaded_index_gives_what_a_build_from_scratch_gives(embedder, tmp_path):
    articles = collection()
    index = ArticleIndex(embedder)
    index.index(articles.values())
    index.save(tmp_path / "ix")
    loaded = ArticleIndex(embedder)
    assert loaded.load(tmp_path / "ix")
    assert loaded.snapshot.tokens.vocabulary == index.snapshot.tokens.vocabulary
    for name in TokenizedCollection.ARRAYS:
        np.testing.assert_array_equal(getattr(loaded.snapshot.tokens, name), getattr(index.snapshot.tokens, name))
    changed = article("tides.md", "# Tides\n\n## Moon\n\nSpring tides come twice a month, when the sun and moon line up.\n")
    loaded.upsert([changed])
    assert_same_search_view(loaded.snapshot, built(embedder, loaded.articles()))


def test_a_full_build_starts_a_new_vocabulary_and_an_update_keeps_the_old_terms(embedder):
    articles = collection()
    index = ArticleIndex(embedder)
    index.index([articles["lighthouses.md"], articles["bees.txt"]])
    skerryvore = index.snapshot.tokens.vocabulary["skerryvor"]
    index.delete(["lighthouses.md"])
    # the term stays in the vocabulary (with its id) but nothing holds it any more
    assert index.snapshot.tokens.vocabulary["skerryvor"] == skerryvore
    assert "skerryvor" not in index.snapshot.sentence_table.vocabulary
    assert not index.snapshot.keyword.scores(["skerryvor"]).any()
    assert all("Skerryvore" not in result.quote for result in index.search("Skerryvore granite").results)
    index.index([articles["tides.md"]])  # nothing reused: a new vocabulary
    assert "skerryvor" not in index.snapshot.tokens.vocabulary


def test_the_tokenized_form_rejects_arrays_that_do_not_agree(embedder):
    tokens = built(embedder, collection().values()).tokens
    tokens.check()
    arrays = tokens.arrays()
    arrays["sentence_lengths"] = arrays["sentence_lengths"][:-1]
    with pytest.raises(ValueError, match="agree"):
        TokenizedCollection(tokens.vocabulary, **arrays).check()


def test_passage_bm25_is_bm25s_over_title_heading_and_text(embedder):
    import bm25s
    import Stemmer

    snapshot = built(embedder, collection().values())
    documents = [
        f"{a.title}\n{a.sections[p.section_index].heading or ''}\n{a.text[p.start:p.end]}"
        for p in snapshot.passages
        for a in [snapshot.articles[p.article_id]]
    ]
    reference = bm25s.BM25()
    reference.index(bm25s.tokenize(documents, stopwords="en", stemmer=Stemmer.Stemmer("english"), show_progress=False), show_progress=False)
    for question in [*QUESTIONS, "Honeybees part 3 moon", "Lighthouses of Scotland keepers"]:
        terms = snapshot.keyword.query_terms(question)
        np.testing.assert_array_equal(snapshot.keyword.scores(terms), reference.get_scores(terms))
