from __future__ import annotations

from pathlib import Path

from index.loaders import load_article
from index.passages import MAX_TOKENS, chunk_article
from index.quotes import quote_text
from index.text import collapse_whitespace, sentence_spans

SAMPLE = Path(__file__).resolve().parents[2] / "articles" / "000_97ab4e9c0a6dbff7.txt"


def test_sentences_split_at_ends_but_not_abbreviations():
    text = 'Dr. Smith met J. Doe in the U.S. on Monday. It rained! "Why?" he asked. The end'
    assert [text[s.start:s.end] for s in sentence_spans(text)] == [
        "Dr. Smith met J. Doe in the U.S. on Monday.",
        "It rained!",
        '"Why?" he asked.',
        "The end",
    ]


def test_passages_stay_inside_their_section_and_cover_it(embedder):
    article = load_article(SAMPLE)
    passages = chunk_article(article, embedder.count_tokens)
    assert {p.section_index for p in passages} == {0, 1, 2}
    for passage in passages:
        section = article.sections[passage.section_index]
        assert section.start <= passage.start < passage.end <= section.end
        assert passage.sentences[0].start == passage.start and passage.sentences[-1].end == passage.end
    # Every word of every section body is in some passage.
    for index, section in enumerate(article.sections):
        covered = " ".join(article.text[p.start:p.end] for p in passages if p.section_index == index)
        assert collapse_whitespace(covered) == collapse_whitespace(article.text[section.start:section.end])


def test_long_paragraphs_are_split_within_the_model_limit(embedder, tmp_path):
    sentence = "The committee reviewed the proposal carefully and recorded every objection in detail."
    path = tmp_path / "long.txt"
    path.write_text("Long\n\nOnly Section\n\n" + " ".join([sentence] * 80) + "\n")
    article = load_article(path)
    passages = chunk_article(article, embedder.count_tokens)
    assert len(passages) > 5
    counts = embedder.count_tokens([article.text[p.start:p.end] for p in passages])
    assert max(counts) <= MAX_TOKENS


def test_every_quote_is_a_verbatim_substring(embedder):
    article = load_article(SAMPLE)
    collapsed = collapse_whitespace(article.text)
    for passage in chunk_article(article, embedder.count_tokens):
        quote = quote_text(article.text, passage)
        assert quote and quote in collapsed and len(quote) <= 600


def test_a_single_overlong_sentence_is_cut_at_a_word(tmp_path):
    words = " ".join(f"word{i}" for i in range(400))
    path = tmp_path / "run-on.txt"
    path.write_text(f"Run On\n\n{words}\n")
    article = load_article(path)
    passage = chunk_article(article)[0]
    quote = quote_text(article.text, passage)
    assert len(quote) <= 600 and quote in article.text
    assert article.text[article.text.index(quote) + len(quote)] == " "  # ends at a word boundary
