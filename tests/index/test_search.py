"""Retrieval behaviour (issue 4): what comes first, what is quoted, when the index abstains."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from index import ArticleIndex
from index import collection as collection_module
from index import kernels
from index import search as search_module
from index import snapshot as snapshot_module
from index.quotes import QUOTE_LIMIT
from index.text import collapse_whitespace
from index.tokens import TokenizedCollection

SAMPLE_ARTICLES = Path(__file__).resolve().parents[2] / "articles"

LIGHTHOUSES = """# Lighthouses of Scotland

## Building the towers

The Northern Lighthouse Board was set up in 1786 to build lights on the dangerous Scottish coast. Its engineers
came from one family for more than a century: Robert Stevenson, his sons and his grandsons designed most of the
towers that still stand today.

The tower on Skerryvore, a reef west of Tiree, took six years to build and was finished in 1844. Alan Stevenson
shaped its granite blocks so that each course locked into the next, and the finished tower rises 48 metres above
the rock.

## The lamps

Early lights burned whale oil in simple lamps behind polished copper reflectors. From the 1830s the Board fitted
Fresnel lenses, rings of glass prisms that bend the light of a single flame into a narrow, powerful beam which
sailors could see more than twenty miles away.

Paraffin replaced oil later in the century, and electric lamps arrived in the 1900s. A clockwork mechanism,
wound by hand every few hours, turned the lens so that each lighthouse flashed its own pattern.

## Keepers

Keepers lived at the lights in teams of three, working in shifts through the night. They trimmed the wicks,
cleaned the lenses and logged the weather, and a relief boat brought food and fresh crews every few weeks when
the sea allowed it. The last keepers left Fair Isle in 1998, when the final Scottish light was automated.
"""

BEES = """Honeybees

A colony of honeybees is a family of one queen, a few hundred drones and tens of thousands of workers. The queen
lays all of the eggs, up to two thousand a day in summer, and the workers do everything else.

Foragers that find a good patch of flowers go back to the hive and perform a waggle dance on the comb. The angle
of the dance against the vertical gives the direction of the flowers relative to the sun, and the length of the
waggle run tells the other bees how far away they are.

Bees make honey from nectar. They add enzymes to it, store it in wax cells and fan it with their wings until
enough water has evaporated, then cap each cell with wax. A strong colony can store more than twenty kilograms of
honey in a good year.
"""


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    shutil.copytree(SAMPLE_ARTICLES, folder)
    (folder / "lighthouses.md").write_text(LIGHTHOUSES, encoding="utf-8")
    (folder / "bees.txt").write_text(BEES, encoding="utf-8")
    return folder


@pytest.fixture
def index(embedder, articles: Path) -> ArticleIndex:
    built = ArticleIndex(embedder)
    built.sync_folder(articles)
    return built


QUESTIONS = [
    "Which engineer shaped the granite blocks of Skerryvore?",
    "How do bees tell each other where to find food?",
    "What made the beam of a lighthouse visible from far away?",
    "How many eggs does a queen bee lay?",
    "When did the last lighthouse keepers leave?",
    "Who claimed that a truce deal was close?",
    "Why is a military victory unlikely?",
    "How is honey made?",
]


def test_words_found_in_one_passage_only_retrieve_it_first(index):
    answer = index.search("Which engineer shaped the granite blocks of Skerryvore?")
    top = answer.results[0]
    assert answer.answered
    assert top.article == "Lighthouses of Scotland" and top.section == "Building the towers"
    assert "Alan Stevenson shaped its granite blocks" in top.quote


def test_a_paraphrased_question_still_finds_its_passage(index):
    # No content word of the question besides "bees" occurs in the passage that answers it.
    answer = index.search("How do bees communicate where food is?")
    assert answer.answered
    assert "waggle dance" in answer.results[0].quote


@pytest.mark.parametrize(
    "question",
    [
        "What is the boiling point of liquid nitrogen?",
        "Which team won the 1998 football World Cup?",
        "How do I bake sourdough bread at home?",
    ],
)
def test_an_off_topic_question_is_not_answered(embedder, question):
    index = ArticleIndex(embedder)
    index.sync_folder(SAMPLE_ARTICLES)
    answer = index.search(question)
    assert not answer.answered
    assert answer.results  # the nearest quotes are still given, for whoever wants them


@pytest.mark.parametrize("limit", [QUOTE_LIMIT, 150])
def test_quotes_are_verbatim_short_and_hold_their_highlight(embedder, articles, limit):
    index = ArticleIndex(embedder, quote_limit=limit)
    index.sync_folder(articles)
    texts = {a.id: collapse_whitespace(a.text) for a in index.articles()}
    for question in QUESTIONS:
        answer = index.search(question, top_k=5)
        assert answer.results
        for result in answer.results:
            assert len(result.quote) <= limit
            assert result.quote in texts[result.article_id]
            assert result.highlight in result.quote
            # whole sentences, or whole words of one too long to quote: the offsets give the quote exactly
            article = next(a for a in index.articles() if a.id == result.article_id)
            assert collapse_whitespace(article.text[result.start:result.end]) == result.quote


def test_results_do_not_repeat_each_other(index):
    for question in QUESTIONS:
        results = index.search(question, top_k=5).results
        spans = sorted((r.article_id, r.start, r.end) for r in results)
        for (a, _, end), (b, start, _) in zip(spans, spans[1:]):
            assert a != b or end <= start


def test_save_and_load_keep_the_keyword_index_in_line_with_the_vectors(index, embedder, tmp_path):
    index.save(tmp_path / "ix")
    loaded = ArticleIndex(embedder)
    assert loaded.load(tmp_path / "ix")
    before, after = index.snapshot, loaded.snapshot
    assert after.keyword.size == len(after.passages) == after.passage_vectors.shape[0]
    assert after.sentence_vectors.shape[0] == sum(len(p.sentences) for p in after.passages)
    # the tokenized form is read back as saved, the one the records make
    assert after.tokens.vocabulary == before.tokens.vocabulary
    for name in TokenizedCollection.ARRAYS:
        np.testing.assert_array_equal(getattr(after.tokens, name), getattr(before.tokens, name))
    for question in QUESTIONS:
        cleaned = collapse_whitespace(question)
        terms = before.keyword.query_terms(cleaned)
        np.testing.assert_allclose(after.keyword.scores(terms), before.keyword.scores(terms), rtol=1e-6)
        old, new = index.search(question, top_k=5), loaded.search(question, top_k=5)
        assert old.answered == new.answered
        assert [(r.article_id, r.quote, r.highlight) for r in old.results] == [
            (r.article_id, r.quote, r.highlight) for r in new.results
        ]
        assert [r.score for r in old.results] == pytest.approx([r.score for r in new.results], rel=1e-5)


def test_searching_one_article_quotes_only_it(index):
    answer = index.search("How is honey made?", top_k=5, article="Honeybees")
    assert answer.results and {r.article for r in answer.results} == {"Honeybees"}
    assert "nectar" in answer.results[0].quote


CLOCKS = """Clocks of the museum

The museum's clock room holds a long run of makers, among them Thomas Tompion, George Graham, John Harrison,
Abraham-Louis Breguet, Ferdinand Berthoud, Pierre Le Roy, Julien Le Roy, Thomas Mudge, John Arnold, Thomas
Earnshaw, Benjamin Vulliamy, Edward John Dent, James Ferguson Cole, Charles Frodsham, Victor Kullberg, Louis
Moinet, Antide Janvier, Jean-Antoine Lépine, Robert Robin, Joseph Knibb, Edward East, Daniel Quare, Christopher
Gould, Samuel Watson, Henry Jones, Ahasuerus Fromanteel, William Clement, John Ellicott, Alexander Cumming,
Justin Vulliamy, Josiah Emery, William Hardy, Edward Massey, Robert Molyneux and Paul Garnier, and, kept under
glass in the middle of the room, the great astronomical clock that Jens Olsen designed for the city hall of
Copenhagen, whose slowest gear turns once in twenty-five thousand years.

Most of the clocks are wound once a week by the museum's own clockmaker.
"""


def test_a_sentence_too_long_to_quote_is_quoted_where_it_answers(embedder, tmp_path):
    (tmp_path / "clocks.txt").write_text(CLOCKS, encoding="utf-8")
    index = ArticleIndex(embedder)
    index.sync_folder(tmp_path)
    article = index.articles()[0]
    long_sentence = collapse_whitespace(CLOCKS.split("\n\n")[1])
    assert len(long_sentence) > QUOTE_LIMIT and "Jens Olsen" not in long_sentence[:QUOTE_LIMIT]
    top = index.search("Which clock did Jens Olsen design?").results[0]
    assert "astronomical clock that Jens Olsen designed for the city hall of Copenhagen" in top.quote
    assert len(top.quote) <= QUOTE_LIMIT and top.quote in long_sentence
    assert collapse_whitespace(article.text[top.start:top.end]) == top.quote and top.highlight == top.quote
    assert top.cut_before and top.cut_after == (not long_sentence.endswith(top.quote))
    # a question about its start still gets its start
    start = index.search("Which clocks by Thomas Tompion are in the clock room?").results[0]
    assert start.quote.startswith("The museum's clock room") and not start.cut_before and start.cut_after
    whole = index.search("Who winds the clocks?").results[0]
    assert whole.quote == "Most of the clocks are wound once a week by the museum's own clockmaker."
    assert not whole.cut_before and not whole.cut_after


def test_ranking_from_the_4_bit_copy_gives_the_answers_float32_gives(embedder, articles, monkeypatch):
    """Collections past a few hundred passages rank every passage vector from a 4-bit copy (index/dense.py); its
    cosines are a few hundredths off, which must not change what is quoted: the candidates' own are float32."""
    exact = ArticleIndex(embedder)
    exact.sync_folder(articles)
    assert exact.snapshot.quantized_cosines is None  # the test collection is small: float32
    monkeypatch.setattr(snapshot_module, "QUANTIZED_FROM_PASSAGES", 0)
    quantized = ArticleIndex(embedder)
    quantized.sync_folder(articles)
    assert quantized.snapshot.quantized_cosines is not None
    for question in QUESTIONS:
        expected, found = exact.search(question), quantized.search(question)
        assert found.answered == expected.answered
        assert [(r.article, r.quote, r.highlight) for r in found.results] == [(r.article, r.quote, r.highlight) for r in expected.results]
        assert [r.score for r in found.results] == pytest.approx([r.score for r in expected.results], abs=1e-5)


needs_kernel = pytest.mark.skipif(
    not kernels.COMPILED,
    reason="index._kernels was not built (no C compiler when the project was installed): numpy serves instead",
)

# What a user may type beyond QUESTIONS: words the articles never use, one word, a phrase repeated.
ODD_QUESTIONS = ["Zyxwv qwert plonk?", "Bees", "the the the lighthouse lighthouse keepers keepers"]


@needs_kernel
@pytest.mark.parametrize("approximate", [False, True], ids=["exact", "approximate"])
def test_the_compiled_kernel_scores_every_window_as_numpy_does(embedder, articles, monkeypatch, approximate):
    """Window scoring runs compiled (index/_kernels.c) where it was built and in numpy elsewhere: the same
    features and scores to float32 rounding, hence the same quotes."""
    scored = []

    def both(*arguments, **options):
        numpy_windows = search_module.score_windows(*arguments, **options, compiled=False)
        compiled_windows = search_module.score_windows(*arguments, **options, compiled=True)
        scored.append((numpy_windows, compiled_windows))
        return compiled_windows

    index = ArticleIndex(embedder, approximate_threshold=10) if approximate else ArticleIndex(embedder)
    index.sync_folder(articles)
    assert (index.snapshot.approximate_passages is not None) == approximate
    monkeypatch.setattr(collection_module, "score_windows", both)
    for question in QUESTIONS + ODD_QUESTIONS:
        index.search(question, top_k=5)
        index.search(question, article="Lighthouses of Scotland")
    assert len(scored) == 2 * len(QUESTIONS + ODD_QUESTIONS)
    for expected, found in scored:
        assert np.array_equal(found.passage, expected.passage) and np.array_equal(found.first, expected.first)
        for name in ("features", "sentence_dense", "sentence_terms"):
            assert getattr(found, name).shape == getattr(expected, name).shape
            assert np.allclose(getattr(found, name), getattr(expected, name), atol=1e-6), name
        assert np.allclose(found.scores, expected.scores, atol=1e-5)
        assert search_module.choose_windows(found, 5) == search_module.choose_windows(expected, 5)


@needs_kernel
def test_the_first_stage_ranks_passages_as_numpy_does():
    rng = np.random.default_rng(3)
    weights = search_module.FusionWeights()
    for size, k in ((1, 20), (7, 3), (500, 20), (5000, 40), (30, 0)):
        dense = rng.uniform(-0.2, 0.9, size).astype(np.float32)
        keyword = np.where(rng.random(size) < 0.3, rng.uniform(0, 12, size), 0).astype(np.float32)
        scale = 1 / float(keyword.max()) if keyword.max() > 0 else 0.0
        expected = search_module.best_passages(dense, keyword, scale, weights, k, compiled=False)
        found = search_module.best_passages(dense, keyword, scale, weights, k, compiled=True)
        assert found.tolist() == expected.tolist() and len(found) == min(k, size)
    # equal scores: the same scores come out, best first
    dense, keyword = np.repeat(np.float32([0.5, 0.2, 0.7]), 10), np.zeros(30, dtype=np.float32)
    found = search_module.best_passages(dense, keyword, 0.0, weights, 15, compiled=True)
    expected = search_module.best_passages(dense, keyword, 0.0, weights, 15, compiled=False)
    assert dense[found].tolist() == dense[expected].tolist() == np.float32([0.7] * 10 + [0.5] * 5).tolist()
    with pytest.raises(ValueError, match="one score per passage"):
        kernels.compiled.best_passages(dense, keyword[:-1], 0.7, 0.3, np.empty(3, dtype=np.int64))
    with pytest.raises(TypeError, match="must be real number"):
        kernels.compiled.best_passages(dense, keyword, "0.7", 0.3, np.empty(3, dtype=np.int64))


@needs_kernel
def test_searching_without_the_kernels_quotes_the_same(index, monkeypatch):
    compiled = [index.search(question) for question in QUESTIONS]
    monkeypatch.setattr(kernels, "COMPILED", False)
    for question, expected in zip(QUESTIONS, compiled):
        found = index.search(question)
        assert found.answered == expected.answered
        assert [(r.quote, r.highlight) for r in found.results] == [(r.quote, r.highlight) for r in expected.results]
        assert [r.score for r in found.results] == pytest.approx([r.score for r in expected.results], abs=1e-5)


# score_windows's arrays, in the order the kernel takes them
KERNEL_ARGUMENTS = (
    "vectors question posting_keys posting_rows query_keys idf pointer passage first last outside norm positions "
    "passage_first passage_last signals window_weights focus_weights out_passage out_first out_last features scores "
    "dense coverage"
).split()


@needs_kernel
def test_the_kernel_refuses_arrays_it_cannot_read_instead_of_crashing(index, monkeypatch):
    """Arrays of the wrong type, shape or range raise an error that says which; nothing is read out of bounds."""
    calls = []
    kernel = kernels.compiled.score_windows
    monkeypatch.setattr(kernels.compiled, "score_windows", lambda *arrays: calls.append(arrays) or kernel(*arrays))
    index.search(QUESTIONS[0])
    (given,) = calls
    arrays = dict(zip(KERNEL_ARGUMENTS, given, strict=True))
    assert kernel(*given) == len(arrays["scores"])  # as given: accepted, every window written

    def with_(**changes: object) -> list:
        return [changes.get(name, array) for name, array in arrays.items()]

    with pytest.raises(TypeError, match="takes 25 arrays"):
        kernel(*given[:-1])
    with pytest.raises(TypeError, match="first must be a contiguous 1D int64 array"):
        kernel(*with_(first=arrays["first"].astype(np.int32)))
    with pytest.raises(TypeError, match="vectors must be a contiguous 2D float32 array"):
        kernel(*with_(vectors=arrays["vectors"].astype(np.float64)))
    with pytest.raises(ValueError, match="vectors cannot be read: ndarray is not C-contiguous"):
        kernel(*with_(vectors=np.asfortranarray(arrays["vectors"])))
    with pytest.raises(ValueError, match="features cannot be read: .*read-only"):
        kernel(*with_(features=_read_only(arrays["features"])))
    with pytest.raises(ValueError, match="positions cannot be read"):
        kernel(*with_(positions=arrays["positions"].tolist()))
    with pytest.raises(ValueError, match="question's dimension"):
        kernel(*with_(question=arrays["question"][:-1]))
    with pytest.raises(ValueError, match="not rows of the vectors"):
        kernel(*with_(vectors=arrays["vectors"][:1]))
    with pytest.raises(ValueError, match="a candidate is not a passage"):
        kernel(*with_(passage=arrays["passage"] + len(arrays["passage_first"])))
    with pytest.raises(ValueError, match="a position is not one of the windows' passages"):
        kernel(*with_(positions=arrays["positions"] + len(arrays["pointer"])))
    with pytest.raises(ValueError, match="posting_rows must match posting_keys"):
        kernel(*with_(posting_rows=arrays["posting_rows"][:-1]))
    with pytest.raises(ValueError, match="the outputs must have as many rows"):
        kernel(*with_(scores=arrays["scores"][:-1]))
    outputs = ("out_passage", "out_first", "out_last", "features", "scores", "dense", "coverage")
    with pytest.raises(ValueError, match="no room for every window"):
        kernel(*with_(**{name: arrays[name][:-1] for name in outputs}))
    with pytest.raises(ValueError, match="wider than the outputs"):
        kernel(*with_(dense=arrays["dense"][:, :0].copy(), coverage=arrays["coverage"][:, :0].copy()))
    with pytest.raises(ValueError, match="a position is not one of the windows' passages"):
        kernels.compiled.window_extent(arrays["pointer"], arrays["first"], arrays["last"], arrays["positions"] - 10**6)


def _read_only(array: np.ndarray) -> np.ndarray:
    copy = array.copy()
    copy.setflags(write=False)
    return copy
