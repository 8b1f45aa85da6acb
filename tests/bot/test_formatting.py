"""Discord's limits and formatting rules, checked on the embeds a user would see."""
from __future__ import annotations

import discord

from bot.formatting import (
    CONTENT_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    TITLE_LIMIT,
    answer_embed,
    article_embed,
    reload_embed,
    shorten,
    sources_pages,
)
from index import Answer, ArticleSummary, SearchResult, UpdateReport


def result(quote: str, highlight: str | None = None, **overrides) -> SearchResult:
    fields = dict(
        article_id="a.txt", article="An Article", section="A Section", source="articles/a.txt", url=None,
        quote=quote, highlight=highlight or quote, score=0.8, start=0, end=len(quote),
    )
    fields.update(overrides)
    return SearchResult(**fields)


def assert_within_limits(embed: discord.Embed) -> None:
    assert len(embed.title or "") <= TITLE_LIMIT
    assert len(embed) <= EMBED_TOTAL_LIMIT
    for field in embed.fields:
        assert len(field.name) <= FIELD_NAME_LIMIT and len(field.value) <= FIELD_VALUE_LIMIT


def test_shorten_cuts_at_a_sentence_end_with_an_ellipsis():
    text = "First sentence is here. Second sentence is a bit longer than that. Third one."
    assert shorten(text, 50) == "First sentence is here. …"
    assert shorten(text, 500) == text


def test_shorten_never_cuts_mid_word():
    text = "word " * 100
    cut = shorten(text, 73)
    assert len(cut) <= 73 and cut.endswith("…")
    assert all(part == "word" for part in cut.rstrip("…").split())


def test_answer_bolds_the_highlighted_sentence_and_names_the_source():
    quote = "Before it. The answer is forty-two. After it."
    embed = answer_embed(Answer("What is it?", True, (result(quote, "The answer is forty-two."),)))
    (field,) = embed.fields
    assert "**The answer is forty\\-two.**" in field.value or "**The answer is forty-two.**" in field.value
    assert field.name == "1. An Article › A Section"
    assert "`articles/a.txt`" in field.value
    assert_within_limits(embed)


def test_words_the_quote_leaves_out_of_a_sentence_are_marked():
    quote = "the clock that Jens Olsen designed for the city hall"
    cut = answer_embed(Answer("q", True, (result(quote, cut_before=True, cut_after=True),))).fields[0].value
    assert cut.startswith("…**the clock that Jens Olsen designed for the city hall**…")
    whole = answer_embed(Answer("q", True, (result(quote),))).fields[0].value
    assert whole.startswith("**the clock that Jens Olsen designed for the city hall**\n") and "…" not in whole


def test_url_is_linked():
    embed = answer_embed(Answer("q", True, (result("Quote.", url="https://example.org/a"),)))
    assert "(https://example.org/a)" in embed.fields[0].value


def test_only_web_links_are_shown_and_none_can_smuggle_markdown():
    def shown(url: str) -> tuple[str, str, str]:
        """The link as a quote's source, in /sources and in /article show."""
        summary = ArticleSummary("a.txt", "An Article", "articles/a.txt", url, ("One",), 1, 1_700_000_000)
        return (
            answer_embed(Answer("q", True, (result("Quote.", url=url),))).fields[0].value,
            sources_pages([summary])[0].fields[0].value,
            article_embed(summary, "An Article").fields[1].value,
        )

    wiki = "https://en.wikipedia.org/wiki/Mercury_(planet)"
    linked, listed, source = shown(wiki)
    assert "[An Article](https://en.wikipedia.org/wiki/Mercury_%28planet%29)" in linked
    assert listed.endswith("\nhttps://en.wikipedia.org/wiki/Mercury_%28planet%29") and source == "https://en.wikipedia.org/wiki/Mercury_%28planet%29"
    for hostile in ("javascript:alert(1)", "https://e.com/a b) [evil](https://evil.example)", "ftp://e.com/f", "https:///x"):
        for text in shown(hostile):
            assert "evil" not in text and "javascript" not in text and "ftp:" not in text, (hostile, text)
        assert "`articles/a.txt`" in shown(hostile)[0] and shown(hostile)[2] == "`a.txt`"
    # a link that fits only before its Markdown characters are encoded (each becomes three) is not shown as a link
    encoded_too_long = "https://example.com/" + "(" * 200
    linked, _, _ = shown(encoded_too_long)
    assert "%28" not in linked and len(linked) <= FIELD_VALUE_LIMIT


def test_markdown_in_quotes_is_shown_literally():
    quote = "Use *stars* and __underscores__ and `ticks` and ||spoilers|| here."
    value = answer_embed(Answer("q", True, (result(quote),))).fields[0].value
    assert "\\*stars\\*" in value and "\\_\\_underscores\\_\\_" in value and "\\`ticks\\`" in value and "\\|\\|spoilers" in value


def test_no_answer_says_so_without_quoting():
    embed = answer_embed(Answer("Who won the 1930 World Cup?", False, (result("Noise."),)))
    assert not embed.fields
    assert "don't answer" in embed.description


def test_huge_inputs_stay_within_every_limit():
    sentence = "Every sentence here is long enough to matter for the limits of Discord embeds. "
    quote = (sentence * 8).strip()  # a 600-character-class quote, then escaping-heavy variants
    nasty = ("*_`|~>" * 120)[:600]
    results = tuple(
        result(q, section="S" * 5000, article="T" * 5000, source="x" * 5000) for q in (quote, nasty, quote * 3)
    )
    embed = answer_embed(Answer("Q" * 5000, True, results))
    assert_within_limits(embed)
    assert len(embed.fields) == 3


def test_sources_pages_fit_and_page():
    summaries = [
        ArticleSummary(f"{i}.txt", f"Article {i}", f"articles/{i}.txt", None, ("One", "Two" * 400), 4, 1_700_000_000)
        for i in range(20)
    ]
    pages = sources_pages(summaries)
    assert len(pages) == 3
    assert [f.name for f in pages[0].fields][:2] == ["Article 0", "Article 1"]
    assert pages[-1].footer.text == "Page 3 of 3"
    for page in pages:
        assert_within_limits(page)
    assert "No articles" in sources_pages([])[0].description


def test_reload_summary_lists_changes():
    embed = reload_embed(UpdateReport(added=("new.md",), removed=("old.txt",), articles=3, passages=12, seconds=1.25))
    values = {f.name: f.value for f in embed.fields}
    assert values["Added"] == "new.md" and values["Removed"] == "old.txt" and values["Updated"] == "none"
    assert "3 articles, 12 passages" in embed.description
    assert CONTENT_LIMIT == 2000
