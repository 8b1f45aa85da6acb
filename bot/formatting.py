"""Turning answers and listings into Discord messages that respect Discord's limits and ping nobody."""
from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

import discord

from index import Answer, ArticleIndex, ArticleSummary, SearchResult, UpdateReport

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FIELD_COUNT_LIMIT = 25
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000

ELLIPSIS = "…"
NO_PINGS = discord.AllowedMentions.none()
ANSWER_COLOUR = discord.Colour.blurple()
NO_ANSWER_COLOUR = discord.Colour.light_grey()
_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+")


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters with an ellipsis: after the last whole sentence that fits,
    or at a word when not even one sentence fits."""
    text = text.strip()
    if len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    # a sentence end leaves room for " …" (two characters), a word end for "…"
    sentence_ends = [m.start() for m in _SENTENCE_BREAK.finditer(text, 0, room + 1) if m.start() < room]
    if sentence_ends:
        return text[: sentence_ends[-1]].rstrip() + " " + ELLIPSIS
    cut = text.rfind(" ", 0, room + 1)
    if cut <= 0:
        return text[:room] + ELLIPSIS  # one unbroken word longer than the limit: nothing better to do
    return text[:cut].rstrip() + ELLIPSIS


def escape(text: str) -> str:
    """Quoted text shown as written: Markdown in it must not change the reply's formatting."""
    return discord.utils.escape_markdown(text, ignore_links=False)


def highlighted_quote(result: SearchResult, limit: int) -> str:
    """The quote with its best sentence in bold, escaped, cut at sentence boundaries to fit ``limit``; an
    ellipsis marks where words of a sentence are left out (by the index's quote or by this cut)."""
    quote = result.quote
    at = quote.find(result.highlight) if result.highlight else -1
    lead = ELLIPSIS if result.cut_before else ""
    for room in range(len(quote), 0, -max(1, len(quote) // 12)):
        piece = shorten(quote, room)
        if at >= 0 and at + len(result.highlight) <= len(piece.rstrip(ELLIPSIS)):
            before, sentence, after = piece[:at], result.highlight, piece[at + len(result.highlight):]
            rendered = f"{escape(before)}**{escape(sentence)}**{escape(after)}"
        else:
            rendered = escape(piece)
        rendered = lead + rendered + (ELLIPSIS if result.cut_after and piece == quote else "")
        if len(rendered) <= limit:
            return rendered
    return lead + escape(shorten(quote, limit // 2))


# Longer links are not shown as links (a cut link is a broken one); they would crowd out the quote.
LINK_LIMIT = 512


# Characters that would end a Markdown link early or open another, percent-encoded in link targets.
_LINK_ESCAPES = str.maketrans({c: f"%{ord(c):02X}" for c in "()<>[]`"})


def shown_link(url: str | None) -> str | None:
    """The URL to show as a link: a web address (http or https) short enough to show whole, with what Markdown
    would read into it percent-encoded; None for anything else. Articles' links come from their files or pages,
    which anyone may have written: a ``javascript:`` link or one that closes the Markdown link early and opens
    another must not reach a reply."""
    if not url or len(url) > LINK_LIMIT or not url.isprintable() or any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    link = url.translate(_LINK_ESCAPES)
    return link if len(link) <= LINK_LIMIT else None  # (encoding makes a character three)


def _source_line(result: SearchResult) -> str:
    link = shown_link(result.url)
    if link:
        return f"[{escape(shorten(result.article, 200))}]({link})"
    return f"`{shorten(result.source.replace('`', ''), 200)}`"


def answer_embed(answer: Answer) -> discord.Embed:
    """The reply to a question: each quote with its best sentence in bold, and where it came from."""
    title = shorten(f"Q: {answer.question}", TITLE_LIMIT)
    if not answer.answered or not answer.results:
        return discord.Embed(
            title=title,
            description="The articles don't answer this question, so I won't guess. "
            "Try other words, or see what I know with `/sources`.",
            colour=NO_ANSWER_COLOUR,
        )
    embed = discord.Embed(title=title, colour=ANSWER_COLOUR)
    for rank, result in enumerate(answer.results[:FIELD_COUNT_LIMIT], 1):
        where = result.article + (f" › {result.section}" if result.section and result.section != result.article else "")
        name = shorten(f"{rank}. {where}", FIELD_NAME_LIMIT)
        source = _source_line(result)
        value = f"{highlighted_quote(result, FIELD_VALUE_LIMIT - len(source) - 3)}\n— {source}"
        if len(embed) + len(name) + len(value) > EMBED_TOTAL_LIMIT - FOOTER_LIMIT // 8:
            break
        embed.add_field(name=name, value=value, inline=False)
    embed.set_footer(text="Quoted verbatim from the indexed articles; the answering sentence is in bold.")
    return embed


def slow_down_text(retry_after: float) -> str:
    """What a member who hit the question cooldown is told."""
    return f"You're asking quickly; try again in {retry_after:.0f} s."


def error_embed(message: str) -> discord.Embed:
    return discord.Embed(description=shorten(message, DESCRIPTION_LIMIT), colour=discord.Colour.red())


SOURCES_PER_PAGE = 8


def sources_pages(summaries: Sequence[ArticleSummary], empty_text: str | None = None) -> list[discord.Embed]:
    """What is indexed, a page per embed; each article with its sections and passage count. A page holds
    up to SOURCES_PER_PAGE articles, fewer when their long titles and section lists would pass Discord's
    total size for one embed. ``empty_text`` is said when there are no articles."""
    if not summaries:
        text = empty_text or "No articles are indexed yet."
        return [discord.Embed(title="Indexed articles", description=text, colour=NO_ANSWER_COLOUR)]
    title = f"Indexed articles ({len(summaries)})"
    footer_room = len(f"Page {len(summaries)} of {len(summaries)}")
    pages: list[discord.Embed] = []
    embed: discord.Embed | None = None
    for summary in summaries:
        sections = ", ".join(escape(s) for s in summary.sections if s) or "one untitled section"
        link = f"\n{url}" if (url := shown_link(summary.url)) else ""
        value = shorten(
            f"{len(summary.sections)} sections, {summary.passages} passages; indexed <t:{int(summary.indexed_at)}:R>\n"
            f"Sections: {sections}",
            FIELD_VALUE_LIMIT - len(link),
        ) + link
        name = shorten(summary.title, FIELD_NAME_LIMIT)
        if embed is None or len(embed.fields) >= SOURCES_PER_PAGE or len(embed) + len(name) + len(value) + footer_room > EMBED_TOTAL_LIMIT:
            embed = discord.Embed(title=title, colour=ANSWER_COLOUR)
            pages.append(embed)
        embed.add_field(name=name, value=value, inline=False)
    for number, page in enumerate(pages, 1):
        page.set_footer(text=f"Page {number} of {len(pages)}")
    return pages


def reload_embed(report: UpdateReport) -> discord.Embed:
    """What a reload changed."""
    def names(ids: Sequence[str]) -> str:
        return shorten(", ".join(escape(i) for i in ids), FIELD_VALUE_LIMIT) if ids else "none"

    changed = report.changed
    embed = discord.Embed(
        title="Index reloaded" if changed else "Index already up to date",
        description=f"{report.articles} articles, {report.passages} passages, in {report.seconds:.1f} s.",
        colour=discord.Colour.green(),
    )
    embed.add_field(name="Added", value=names(report.added))
    embed.add_field(name="Updated", value=names(report.updated))
    embed.add_field(name="Removed", value=names(report.removed))
    if report.skipped:
        skipped = "\n".join(escape(reason) for _, reason in report.skipped)
        embed.add_field(name=f"Skipped ({len(report.skipped)})", value=shorten(skipped, FIELD_VALUE_LIMIT), inline=False)
    return embed


def article_choices(index: ArticleIndex, typed: str) -> list[discord.app_commands.Choice[str]]:
    """Autocomplete choices for an article option: titles shown, ids sent back."""
    return [
        discord.app_commands.Choice(name=shorten(article.title, 100), value=article.id[:100])
        for article in index.matching_articles(typed, limit=25)
    ]


def article_embed(summary: ArticleSummary, title: str) -> discord.Embed:
    """One article: where it came from and its sections."""
    sections = "\n".join(f"• {escape(s)}" if s else "• (text before the first heading)" for s in summary.sections)
    embed = discord.Embed(title=shorten(title, TITLE_LIMIT), colour=ANSWER_COLOUR)
    embed.add_field(name="Article", value=shorten(escape(summary.title), FIELD_VALUE_LIMIT), inline=False)
    embed.add_field(name="Source", value=shown_link(summary.url) or f"`{shorten(summary.id.replace('`', ''), 200)}`", inline=False)
    embed.add_field(
        name=f"{len(summary.sections)} sections, {summary.passages} passages",
        value=shorten(sections, FIELD_VALUE_LIMIT),
        inline=False,
    )
    return embed


def secondary_button(label: str, emoji: str, custom_id: str, disabled: bool = False) -> discord.ui.Button:
    """A grey button with an emoji, as the bot's feedback and paging buttons are."""
    return discord.ui.Button(label=label, emoji=emoji, style=discord.ButtonStyle.secondary, custom_id=custom_id, disabled=disabled)

