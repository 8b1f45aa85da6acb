"""Properties of the Discord formatting that must hold for any text (hypothesis).

Whatever the articles, questions and sources hold (any Unicode, Markdown, @everyone and <@&id> mentions,
zero-width and right-to-left characters, huge titles or links), every embed stays within Discord's limits,
quotes are shown without losing or inventing words, and every payload the bot sends pings nobody."""
from __future__ import annotations

import discord
from discord.webhook.async_ import interaction_message_response_params
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from bot.formatting import (
    DESCRIPTION_LIMIT,
    ELLIPSIS,
    EMBED_TOTAL_LIMIT,
    FIELD_COUNT_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FOOTER_LIMIT,
    NO_PINGS,
    TITLE_LIMIT,
    answer_embed,
    article_embed,
    error_embed,
    reload_embed,
    shorten,
    sources_pages,
)
from index import Answer, ArticleSummary, SearchResult, UpdateReport
from index.quotes import QUOTE_LIMIT
from index.text import collapse_whitespace

FAST = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SLOW = settings(FAST, max_examples=60)  # examples with dozens of long texts each
AUTHOR_LIMIT = 256

PIECES = [
    "@everyone", "@here", "<@&123456789012345678>", "<@234567890123456789>", "<@!1>", "<#1>", "<t:0:R>",
    "**", "__", "*", "_", "~~", "||", "`", "```", "> ", "# ", "-# ", "- ", "1. ", "\\", "[x](https://e.com)", "](",
    "\u200b", "\u200d", "\ufeff", "\u202e", "\u200f", "\u2067", "عربي", "עברית", "\U0001f600", "\u0301",
    ". ", "! ", "? ", "… ", "\" ", " ", "word", "Sentence one. ", "Mr. Smith. ",
]
text = st.one_of(st.text(), st.lists(st.sampled_from(PIECES) | st.text(max_size=8), max_size=60).map("".join))
long_text = st.one_of(text, st.builds(lambda piece, n: piece * n, st.sampled_from(PIECES + ["x"]), st.integers(100, 3000)))
# What the loaders guarantee of a title: some text that is not only whitespace.
title = long_text.filter(lambda t: t.strip())


@st.composite
def results(draw) -> SearchResult:
    quote = collapse_whitespace(draw(long_text))[:QUOTE_LIMIT].strip()
    assume(quote)
    if draw(st.booleans()):
        start = draw(st.integers(0, len(quote) - 1))
        highlight = quote[start:draw(st.integers(start + 1, len(quote)))]
    else:
        highlight = draw(text)
    url = draw(st.none() | st.builds(lambda path: "https://example.com/" + path, long_text))
    return SearchResult(
        article_id=draw(text),
        article=draw(title),
        section=draw(st.none() | long_text),
        source=draw(long_text),
        url=url,
        quote=quote,
        highlight=highlight,
        score=draw(st.floats(-1, 2, allow_nan=False)),
        start=0,
        end=len(quote),
    )


answers = st.builds(
    Answer,
    question=st.one_of(text, long_text).map(lambda q: collapse_whitespace(q)[:1000] or "?"),
    answered=st.booleans(),
    results=st.lists(results(), max_size=30).map(tuple),
)


def assert_within_discord_limits(embed: discord.Embed) -> None:
    data = embed.to_dict()
    title_text = data.get("title", "")
    description = data.get("description", "")
    fields = data.get("fields", [])
    footer = data.get("footer", {}).get("text", "")
    author = data.get("author", {}).get("name", "")
    assert len(title_text) <= TITLE_LIMIT
    assert len(description) <= DESCRIPTION_LIMIT
    assert len(fields) <= FIELD_COUNT_LIMIT
    for field in fields:
        assert 0 < len(field["name"]) <= FIELD_NAME_LIMIT, field["name"]
        assert 0 < len(field["value"]) <= FIELD_VALUE_LIMIT, field["value"]
    assert len(footer) <= FOOTER_LIMIT and len(author) <= AUTHOR_LIMIT
    total = len(title_text) + len(description) + len(footer) + len(author) + sum(len(f["name"]) + len(f["value"]) for f in fields)
    assert total <= EMBED_TOTAL_LIMIT
    assert len(embed) == total  # discord.py counts the same way
    assert title_text or description or fields, "Discord refuses an empty embed"


def assert_pings_nobody(embed: discord.Embed) -> None:
    """Both ways the bot sends: a channel message (DMs, mention replies) and an interaction response; with the
    bot-wide default (what discord.py merges in when a call gives none) and with NO_PINGS passed explicitly."""
    for explicit in (None, NO_PINGS):
        channel = discord.http.handle_message_parameters(embed=embed, allowed_mentions=explicit, previous_allowed_mentions=NO_PINGS)
        interaction = interaction_message_response_params(
            type=4, embed=embed, allowed_mentions=explicit, previous_allowed_mentions=NO_PINGS
        )
        for payload in (channel.payload, interaction.payload["data"]):
            assert payload["allowed_mentions"] == {"parse": []}


def visible(text: str) -> str:
    """Text as compared for verbatim-ness: without Markdown escapes and bold markers."""
    return text.replace("\\", "").replace("*", "")


# -- shorten ----------------------------------------------------------------------------------------------

@FAST
@given(text=long_text, limit=st.integers(1, 7000))
@example(text="Abcdefgh. More text here", limit=10)  # a sentence end one short of the limit
@example(text="x" * 300, limit=1)
def test_shorten_fits_and_only_cuts(text, limit):
    short = shorten(text, limit)
    assert len(short) <= limit
    stripped = text.strip()
    if len(stripped) <= limit:
        assert short == stripped
    else:
        assert short.endswith(ELLIPSIS)
        assert stripped.startswith(short[: -len(ELLIPSIS)].rstrip())


# -- answers ----------------------------------------------------------------------------------------------

@FAST
@given(answer=answers)
@example(answer=Answer("q", True, (SearchResult("a", "T", None, "s", "https://e.com/" + "x" * 5000, "Quote.", "Quote.", 1.0, 0, 6),)))
@example(answer=Answer("q" * 1000, True, tuple(SearchResult("a", "T" * 300, "S" * 300, "s" * 300, None, "Q. " * 200, "Q.", 1.0, 0, 1) for _ in range(30))))
def test_answer_embeds_fit_discord_and_ping_nobody(answer):
    embed = answer_embed(answer)
    assert_within_discord_limits(embed)
    assert_pings_nobody(embed)
    if not answer.answered or not answer.results:
        assert not embed.fields
        return
    assert embed.fields, "an answer shows at least its best quote"
    for field, result in zip(embed.fields, answer.results):
        quote_part = field.value.rsplit("\n— ", 1)[0]
        shown = visible(quote_part).removesuffix(ELLIPSIS).rstrip()
        assert shown or not visible(result.quote), "a quote is never cut away entirely"
        assert visible(result.quote).startswith(shown), "a quote is shown verbatim, only cut at its end"


# -- other embeds -----------------------------------------------------------------------------------------

summaries = st.builds(
    ArticleSummary,
    id=long_text,
    title=title,
    source=long_text,
    url=st.none() | st.builds(lambda path: "https://example.com/" + path, long_text),
    sections=st.lists(st.none() | long_text, min_size=1, max_size=40).map(tuple),
    passages=st.integers(0, 10**6),
    indexed_at=st.floats(0, 4e9),
)


@SLOW
@given(listing=st.lists(summaries, max_size=30))
@example(listing=[ArticleSummary(f"{n}.md", "T" * 300, "s", None, ("S" * 2000,), 1, 0.0) for n in range(9)])  # 8 full fields pass 6000
def test_sources_pages_fit_discord(listing):
    pages = sources_pages(listing)
    assert pages
    for page in pages:
        assert_within_discord_limits(page)
        assert_pings_nobody(page)
    assert sum(len(page.fields) for page in pages) == len(listing)


@FAST
@given(summary=summaries, heading=long_text.filter(lambda t: t.strip()))
def test_article_embeds_fit_discord(summary, heading):
    assert_within_discord_limits(article_embed(summary, heading))


ids = st.lists(title, max_size=20).map(tuple)  # article ids are file paths: never blank


@SLOW
@given(
    report=st.builds(
        UpdateReport,
        added=ids,
        updated=ids,
        removed=ids,
        skipped=st.lists(st.tuples(title, title), max_size=20).map(tuple),  # a name and a reason
        articles=st.integers(0, 10**6),
        passages=st.integers(0, 10**7),
        seconds=st.floats(0, 1e6),
    ),
    message=long_text.filter(lambda t: t.strip()),
)
def test_reload_and_error_embeds_fit_discord(report, message):
    for embed in (reload_embed(report), error_embed(message)):
        assert_within_discord_limits(embed)
        assert_pings_nobody(embed)
