"""Properties of loading, chunking and quoting that must hold for any text at all (hypothesis).

Whatever a file holds (any Unicode, huge or empty sections, Markdown and mention syntax, zero-width and
right-to-left characters, stray YAML), loading either gives a well-formed article or refuses it with
ArticleLoadError; passages cover every word of every section exactly once; and every quote is verbatim
(a substring of the article's whitespace-collapsed text) and at most QUOTE_LIMIT characters.
No model is needed: the chunker takes a token counter, and search runs on a tiny hashing embedder."""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from index import ArticleIndex, ArticleLoadError
from index import collection as collection_module
from index import kernels
from index import search as search_module
from index.embedding import Embedder
from index.loaders import article_from_bytes, article_from_text, content_hash
from index.passages import MAX_TOKENS, approximate_token_counts, chunk_article
from index.quotes import QUOTE_LIMIT, QuoteWindow, focus_span, quote_text
from index.records import Article, Section, Span
from index.text import collapse_whitespace

# Quick and steady on a busy 2-core machine: no deadline (timing noise is not a bug), few examples per test.
FAST = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SLOW = settings(FAST, max_examples=40)

# -- strategies ------------------------------------------------------------------------------------------

ODD_CHARACTERS = [
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",  # zero-width
    "\u202e", "\u202d", "\u200f", "\u200e", "\u2067", "\u2069",  # bidirectional controls
    "\u00a0", "\u2007", "\u202f", "\u3000", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\t",
    "\r\n", "\r", "\n", "\n\n",
    "\u0301", "\U0001f600", "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # combining mark, emoji, ZWJ sequence
]
MARKUP = [
    "@everyone", "@here", "<@&123456789012345678>", "<@1>", "<@!1>", "<#1>", "<t:0:R>", "<:emoji:1>",
    "**", "__", "*", "_", "~~", "||", "`", "```", "> ", ">>> ", "# ", "## ", "### ", "-# ", "- ", "1. ", "\\",
    "[link](https://example.com)", "](", "---", "===", "<script>", "&amp;", "{{x}}", "%s", "$(id)",
]
WORDS = ["The", "moon", "pulls", "oceans", "Mr.", "Dr.", "J.", "e.g.", "etc.", "U.S.", "tides", "عربي", "עברית", "日本語", "ß"]
ENDINGS = [".", "!", "?", "…", ".\"", "?)", "", ":", ";"]

fragment = st.one_of(
    st.text(max_size=40),
    st.sampled_from(ODD_CHARACTERS),
    st.sampled_from(MARKUP),
    st.sampled_from(WORDS),
    st.sampled_from(ENDINGS),
    st.just(" "),
)
sentence = st.builds(
    lambda words, end: " ".join(words) + end, st.lists(st.sampled_from(WORDS) | st.text(max_size=12), max_size=30), st.sampled_from(ENDINGS)
)
# A big paragraph, or one unbroken "word" far longer than any quote.
huge = st.one_of(
    st.builds(lambda s, n: " ".join([s] * n), sentence, st.integers(50, 400)),
    st.builds(lambda c, n: c * n, st.sampled_from(["x", "é", "\u200b", "日", "*"]), st.integers(601, 5000)),
)
heading = st.one_of(
    st.builds(lambda level, words: "#" * level + " " + words, st.integers(1, 6), st.text(max_size=30)),
    st.builds(lambda words, rule: f"{words}\n{rule}", st.text(min_size=1, max_size=30), st.sampled_from(["===", "---"])),
    st.text(max_size=30),  # maybe a plain-text heading: a short line without closing punctuation
)
block = st.one_of(
    st.lists(fragment, max_size=12).map("".join),
    st.lists(sentence, min_size=1, max_size=8).map(" ".join),
    heading,
    st.sampled_from(["", " ", "\n", "\t\n", "---", "```"]),
)
article_text = st.one_of(
    st.text(),
    st.lists(block, max_size=14).map("\n\n".join),
    st.builds(lambda before, big, after: f"{before}\n\n{big}\n\n{after}", st.lists(block, max_size=4).map("\n\n".join), huge,
              st.lists(block, max_size=4).map("\n\n".join)),
    st.builds(lambda meta, body: f"---\n{meta}\n---\n{body}", st.text(max_size=60), st.lists(block, max_size=6).map("\n\n".join)),
)

NESTED_YAML = "---\ntitle: " + "[" * 3000 + "\n---\n# Heading\n\nSome body text.\n"
# Each level refers ten times to the one before: printing the title would take about 10^9 characters.
LAUGHS = (
    "---\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
    + "title: *a8\nurl: *a8\ndate: *a8\n---\n# Heading\n\nSome body text.\n"
)


# -- checks -----------------------------------------------------------------------------------------------

def assert_well_formed(article: Article) -> None:
    text = article.text
    assert isinstance(article.title, str) and article.title.strip()
    assert len(article.title) <= len(text) + len(article.id) + 1000  # never something blown up from the metadata
    assert article.sections, "an article always has a section with text"
    previous_end = 0
    for section in article.sections:
        assert previous_end <= section.start <= section.end <= len(text)
        assert text[section.start:section.end].strip(), "empty sections are dropped"
        assert section.heading is None or isinstance(section.heading, str)
        previous_end = section.end
    for value in (article.url, article.date):
        assert value is None or (isinstance(value, str) and len(value) < 10_000)


def assert_passages_cover_sections(article: Article, passages, max_tokens: int, count) -> None:
    text = article.text
    covered = np.zeros(len(text), dtype=np.int8)
    for passage in passages:
        assert passage.article_id == article.id
        section = article.sections[passage.section_index]
        assert passage.sentences, "a passage holds at least one sentence"
        assert passage.start == passage.sentences[0].start and passage.end == passage.sentences[-1].end
        assert section.start <= passage.start < passage.end <= section.end, "passages never cross a section"
        end = passage.start
        for sentence_span in passage.sentences:
            assert end <= sentence_span.start < sentence_span.end <= passage.end
            piece = text[sentence_span.start:sentence_span.end]
            assert not piece[0].isspace() and not piece[-1].isspace(), "sentences are trimmed"
            covered[sentence_span.start:sentence_span.end] += 1
            end = sentence_span.end
        if len(passage.sentences) > 1:  # only a single sentence may be longer than the model's window
            assert sum(count([text[s.start:s.end] for s in passage.sentences])) <= max_tokens
    for section in article.sections:
        for position in range(section.start, section.end):
            if not text[position].isspace():
                assert covered[position] == 1, f"character {position} ({text[position]!r}) is in {covered[position]} sentences"
    # passages follow the text's order
    starts = [(p.section_index, p.start) for p in passages]
    assert starts == sorted(starts)


def characters(texts: Sequence[str]) -> list[int]:
    """A harsh token counter: one token per character, so almost every paragraph must be split."""
    return [len(text) for text in texts]


# -- loaders ----------------------------------------------------------------------------------------------

@FAST
@given(text=article_text, suffix=st.sampled_from([".txt", ".md", ".markdown"]))
@example(text=NESTED_YAML, suffix=".md")
@example(text=LAUGHS, suffix=".md")
@example(text="---\ntitle: [1, 2]\nurl: {a: b}\ndate: 2024-01-01\n---\nBody text here.", suffix=".md")
@example(text="\ufeff\u200b\n\n\u202e", suffix=".txt")
def test_loading_any_text_gives_a_good_article_or_a_clear_refusal(text, suffix):
    data = text.encode("utf-8")
    try:
        article = article_from_bytes(f"folder/some-article{suffix}", "articles/some-article", data)
    except ArticleLoadError as error:
        assert str(error)
        return
    assert_well_formed(article)
    assert article.content_hash == content_hash(data)
    assert article.text == data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")


@FAST
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".txt", ".md", ".pdf", "", ".TXT"]))
def test_any_bytes_are_loaded_or_refused_with_a_reason(data, suffix):
    try:
        article = article_from_bytes(f"file{suffix}", "file", data)
    except ArticleLoadError as error:
        assert str(error)
        return
    assert_well_formed(article)


html_block = st.one_of(
    st.builds(lambda level, body: f"<h{level}>{body}</h{level}>", st.integers(1, 4), st.text(max_size=30)),
    st.builds(lambda body: f"<p>{body}</p>", st.lists(sentence | fragment, max_size=8).map(" ".join)),
    st.builds(lambda body: f"<div><script>{body}</script></div>", st.text(max_size=20)),
    st.builds(lambda body: f"<table><tr><td>{body}</td></tr></table>", st.text(max_size=20)),
    st.text(max_size=40),
    st.sampled_from(["<br>", "</p>", "<p", "<!--", "-->", "<![CDATA[", "&nbsp;", "&#x202e;", "<meta name='title' content='T'>"]),
)


@SLOW
@given(blocks=st.lists(html_block, max_size=10), title=st.text(max_size=30))
def test_any_html_is_loaded_or_refused_with_a_reason(blocks, title):
    page = f"<html><head><title>{title}</title></head><body><article>{''.join(blocks)}</article></body></html>"
    try:
        article = article_from_text("page.html", "https://example.com/page", page, ".html", "digest")
    except ArticleLoadError as error:
        assert str(error)
        return
    assert_well_formed(article)


# -- chunker ----------------------------------------------------------------------------------------------

@st.composite
def articles(draw) -> Article:
    """An article with arbitrary text and arbitrary (ordered) section bounds, as the chunker may be handed."""
    text = draw(article_text)
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=8)))
    bounds = [0, *cuts, len(text)]
    sections = tuple(
        Section(draw(st.none() | st.text(max_size=10)), start, end)
        for start, end in zip(bounds, bounds[1:])
        if draw(st.booleans()) or start == 0
    )
    return Article("a.txt", "A", "a.txt", text, sections, "hash")


@FAST
@given(article=articles(), harsh=st.booleans())
def test_passages_cover_every_word_of_every_section_once(article, harsh):
    count = characters if harsh else approximate_token_counts
    passages = chunk_article(article, count)
    assert_passages_cover_sections(article, passages, MAX_TOKENS, count)


@FAST
@given(text=article_text, suffix=st.sampled_from([".txt", ".md"]))
def test_loaded_articles_chunk_cleanly(text, suffix):
    try:
        article = article_from_bytes(f"a{suffix}", "a", text.encode())
    except ArticleLoadError:
        return
    passages = chunk_article(article)
    assert passages, "an article with text has passages"
    assert_passages_cover_sections(article, passages, MAX_TOKENS, approximate_token_counts)


# -- quotes -----------------------------------------------------------------------------------------------

@FAST
@given(text=st.text(), data=st.data(), limit=st.integers(1, 700))
def test_any_span_quotes_verbatim_within_the_limit(text, data, limit):
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    quote = quote_text(text, Span(start, end), limit)
    assert len(quote) <= limit
    assert quote in collapse_whitespace(text)
    assert quote == quote.strip() and "  " not in quote


@FAST
@given(text=article_text, data=st.data(), limit=st.integers(1, 200))
def test_the_focused_part_of_a_long_span_is_whole_words_of_it_within_the_limit(text, data, limit):
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    wanted = data.draw(st.lists(st.sampled_from(WORDS), max_size=4))
    weights = {word.casefold(): float(n) for n, word in enumerate(wanted, 1)}
    focused = focus_span(text, Span(start, end), limit, lambda word: [word.casefold()], weights)
    assert start <= focused.start <= focused.end <= end
    if len(collapse_whitespace(text[start:end])) <= limit:
        assert focused == Span(start, end)
    elif focused != Span(start, end):  # a part: whole words, quoted whole, verbatim
        part = text[focused.start:focused.end]
        assert part == part.strip() and part
        assert focused.start == start or text[focused.start - 1].isspace()
        assert focused.end == end or text[focused.end].isspace()
        assert quote_text(text, focused, limit) == collapse_whitespace(part)
        assert len(collapse_whitespace(part)) <= limit


def test_a_long_span_is_quoted_around_the_words_asked_about():
    filler = " ".join(f"word{n}" for n in range(200))
    text = f"{filler} the lens was ground by Fresnel in Paris and {filler}"
    weights = {"fresnel": 2.0, "lens": 1.0}
    focused = focus_span(text, Span(0, len(text)), 100, lambda word: [word], weights)
    quote = quote_text(text, focused, 100)
    assert "the lens was ground by Fresnel in Paris" in quote
    # the matches sit in the middle: words both before and after them are quoted
    assert quote.index("lens") > 20 and len(quote) - quote.index("Fresnel") > 30
    # nothing asked about: the words from the start that fit, as quote_text cuts them
    start = focus_span(text, Span(0, len(text)), 100, lambda word: [word], {})
    assert start.start == 0 and text[start.start:start.end] == quote_text(text, Span(0, len(text)), 100)


# -- search end to end, without the model -----------------------------------------------------------------

class HashingEmbedder(Embedder):
    """Bag of hashed words: deterministic, instant, and good enough to rank passages that share words."""

    backend = "test"
    DIMENSION = 64

    def __init__(self) -> None:  # no model folder
        self.model_id = "hashing-test"
        self.model_path = None
        self._tokenizer = None
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return self.DIMENSION

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.casefold().split():
                vectors[row, hashlib.blake2b(word.encode(), digest_size=2).digest()[0] % self.DIMENSION] += 1.0
            vectors[row, -1] += 0.01  # never the zero vector
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return approximate_token_counts(texts)


TIDES = "# Tides\n\nThe moon's gravity pulls on the oceans and causes the tides. The sun adds a little.\n"


@pytest.fixture(scope="module")
def hashing_embedder() -> HashingEmbedder:
    return HashingEmbedder()


def indexed(embedder: Embedder, texts: list[tuple[str, str]]) -> tuple[ArticleIndex, list[Article]]:
    """An index of the tides article and of those of ``texts`` (text, suffix) that load, with them."""
    loaded = [article_from_bytes("tides.md", "tides.md", TIDES.encode())]
    for number, (text, suffix) in enumerate(texts):
        try:
            loaded.append(article_from_bytes(f"{number}{suffix}", f"{number}{suffix}", text.encode()))
        except ArticleLoadError:
            pass
    index = ArticleIndex(embedder, min_score=-1.0)
    index.index(loaded)
    return index, loaded


@SLOW
@given(
    texts=st.lists(st.tuples(article_text, st.sampled_from([".txt", ".md"])), min_size=1, max_size=3),
    question=st.one_of(st.text(min_size=1, max_size=200), st.lists(st.sampled_from(WORDS + MARKUP), min_size=1).map(" ".join)),
    top_k=st.integers(1, 10),
)
def test_every_search_result_quotes_an_indexed_article_verbatim(hashing_embedder, texts, question, top_k):
    index, loaded = indexed(hashing_embedder, texts)
    assume(collapse_whitespace(question))
    answer = index.search(question, top_k=top_k)
    assert answer.answered and 1 <= len(answer.results) <= top_k
    by_id = {a.id: a for a in loaded}
    for result in answer.results:
        article = by_id[result.article_id]
        assert result.article == article.title and result.source == article.source
        assert 0 <= result.start < result.end <= len(article.text)
        assert result.quote and len(result.quote) <= QUOTE_LIMIT
        assert result.quote in collapse_whitespace(article.text), "quotes are verbatim"
        assert result.quote == quote_text(article.text, QuoteWindow(result.start, result.end, Span(result.start, result.end)))
        assert result.highlight and result.highlight in result.quote
        assert any(s.start <= result.start and result.end <= s.end for s in article.sections), "a quote stays in one section"


@pytest.mark.skipif(not kernels.COMPILED, reason="index._kernels was not built (no C compiler when the project was installed)")
@SLOW
@given(
    texts=st.lists(st.tuples(article_text, st.sampled_from([".txt", ".md"])), min_size=1, max_size=3),
    question=st.one_of(st.text(min_size=1, max_size=200), st.lists(st.sampled_from(WORDS + MARKUP), min_size=1).map(" ".join)),
)
def test_the_compiled_kernel_scores_any_windows_as_numpy_does(hashing_embedder, texts, question):
    index, _ = indexed(hashing_embedder, texts)
    assume(collapse_whitespace(question))
    scored = []

    def both(*arguments):
        scored.append([search_module.score_windows(*arguments, compiled=compiled) for compiled in (False, True)])
        return scored[-1][1]

    with mock.patch.object(collection_module, "score_windows", both):
        index.search(question, top_k=10)
    ((expected, found),) = scored
    assert np.array_equal(found.first, expected.first) and np.array_equal(found.last, expected.last)
    for name in ("features", "sentence_dense", "sentence_terms"):
        assert np.allclose(getattr(found, name), getattr(expected, name), atol=1e-6), name
    assert np.allclose(found.scores, expected.scores, atol=1e-5)

@FAST
@given(st.lists(st.one_of(fragment, st.sampled_from(["\u00a0", "\u2009", "\u3000", "\x85", "\x1f", "\u2028", "  ", " "])), max_size=12).map("".join))
@example("a\u00a0b")
@example(" a b")
@example("a  b")
def test_whitespace_collapses_as_splitting_at_every_whitespace_character_does(text: str) -> None:
    """The shortcut for text with nothing to collapse gives what splitting and joining gives, whatever the text."""
    assert collapse_whitespace(text) == " ".join(text.split())
