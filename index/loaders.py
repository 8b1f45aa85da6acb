"""Loading articles from files: plain text, Markdown and HTML, each split into sections by its headings."""
from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .errors import ArticleLoadError, ArticlesFolderError
from .records import Article, Section
from .text import collapse_whitespace, paragraph_spans

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
MAX_ARTICLE_BYTES = 10 * 1024 * 1024
# A plain-text heading is one short line without closing punctuation.
_MAX_HEADING_CHARS = 120
_MAX_HEADING_WORDS = 16
_CLOSING_PUNCTUATION = ".!?;:,…"


@dataclass(slots=True)
class FolderLoad:
    """The articles a folder gave, and the files skipped with the reason why."""

    articles: list[Article] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode_article_bytes(data: bytes, name: str) -> str:
    """Bytes to text, refusing what is not a UTF-8 text file."""
    if len(data) > MAX_ARTICLE_BYTES:
        raise ArticleLoadError(f"{name}: larger than {MAX_ARTICLE_BYTES // (1024 * 1024)} MiB")
    if b"\x00" in data:
        raise ArticleLoadError(f"{name}: looks like a binary file, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ArticleLoadError(f"{name}: not valid UTF-8 (byte {error.start})") from None
    if not text.strip():
        raise ArticleLoadError(f"{name}: the file is empty")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _is_plain_heading(line: str) -> bool:
    if "\n" in line or len(line) > _MAX_HEADING_CHARS or len(line.split()) > _MAX_HEADING_WORDS:
        return False
    stripped = line.rstrip("\"'”’)]*_ ")
    return bool(stripped) and stripped[-1] not in _CLOSING_PUNCTUATION


def _sections_from_headings(text: str, headings: list[tuple[str | None, int, int]], end: int) -> tuple[Section, ...]:
    """Sections from (heading, heading_start, body_start) triples in text order; empty bodies are dropped."""
    sections: list[Section] = []
    for position, (heading, _, body_start) in enumerate(headings):
        body_end = headings[position + 1][1] if position + 1 < len(headings) else end
        if text[body_start:body_end].strip():
            sections.append(Section(heading, body_start, body_end))
    return tuple(sections)


def parse_plain_text(text: str, fallback_title: str) -> tuple[str, tuple[Section, ...], dict]:
    """The first line is the title; a short unpunctuated line set off by blank lines, with a paragraph of text
    after it, starts a section. Such a line followed by another or by nothing is text (a list of short items,
    say: as headings of empty sections they would not be quoted at all), and so is the first line of a file
    that holds nothing else. The text may start with front matter as Markdown's does (the bot keeps a fetched
    page's link there), but only one that names a title, link or date: other text between '---' lines is text.
    A title there is the title, and the first line is then text."""
    meta, body_start = _split_front_matter(text)
    if not meta.keys() & {"title", "url", "date"}:
        meta, body_start = {}, 0
    blocks = paragraph_spans(text, body_start)
    if not blocks:
        return fallback_title, (), meta
    if meta.get("title"):
        title, title_end = str(meta["title"]), blocks[0].start
    else:
        first_line_end = text.find("\n", blocks[0].start, blocks[0].end)
        title_end = blocks[0].end if first_line_end == -1 else first_line_end
        title = text[blocks[0].start:title_end].strip() or fallback_title
    # Lines after the title in its own paragraph are body text of an untitled first section.
    headings: list[tuple[str | None, int, int]] = [(None, title_end, title_end)]
    later = blocks[1:]
    short = [_is_plain_heading(text[block.start:block.end]) for block in later]
    for position, block in enumerate(later):
        if short[position] and position + 1 < len(later) and not short[position + 1]:
            headings.append((text[block.start:block.end].strip(), block.start, block.end))
    sections = _sections_from_headings(text, headings, len(text))
    if not sections and len(blocks) == 1:
        sections = (Section(None, blocks[0].start, blocks[0].end),)
    return title, sections, meta


def _split_front_matter(text: str) -> tuple[dict, int]:
    """YAML front matter between '---' lines at the very top, and where the body starts."""
    if not text.startswith("---\n"):
        return {}, 0
    closing = text.find("\n---", 3)
    if closing == -1:
        return {}, 0
    line_end = text.find("\n", closing + 4)
    body_start = len(text) if line_end == -1 else line_end + 1
    import yaml

    try:
        meta = yaml.safe_load(text[4:closing]) or {}
    except (yaml.YAMLError, ValueError, RecursionError) as error:  # e.g. a bad date, or brackets nested too deep
        logger.warning("front matter is not valid YAML (%s); treating it as text", type(error).__name__)
        return {}, 0
    if not isinstance(meta, dict):
        return {}, body_start
    # Plain values only: a list or mapping is no title, link or date, and one built from nested aliases
    # would take gigabytes to print.
    return {key: value for key, value in meta.items() if isinstance(value, (str, int, float, date))}, body_start


def parse_markdown(text: str, fallback_title: str) -> tuple[str, tuple[Section, ...], dict]:
    """ATX ('#') and underlined headings start sections; the first top-level heading may be the title."""
    from markdown_it import MarkdownIt

    meta, body_start = _split_front_matter(text)
    line_starts = [0]
    for position, character in enumerate(text):
        if character == "\n":
            line_starts.append(position + 1)
    first_line = text.count("\n", 0, body_start)
    tokens = MarkdownIt("commonmark").parse(text[body_start:])

    headings: list[tuple[str | None, int, int]] = [(None, body_start, body_start)]
    title = str(meta["title"]).strip() if meta.get("title") else None
    for position, token in enumerate(tokens):
        if token.type != "heading_open" or token.map is None:
            continue
        heading = tokens[position + 1].content.strip()
        start = line_starts[first_line + token.map[0]]
        end_line = first_line + token.map[1]
        end = line_starts[end_line] if end_line < len(line_starts) else len(text)
        if title is None and token.tag == "h1" and len(headings) == 1 and not text[body_start:start].strip():
            title = heading  # a leading '# Title' names the article rather than a section
            headings[0] = (None, start, end)
            continue
        headings.append((heading, start, end))
    return title or fallback_title, _sections_from_headings(text, headings, len(text)), meta


def extract_html(html: str) -> tuple[str, dict]:
    """Main content of a web page as Markdown (headings kept), and its metadata."""
    import trafilatura

    # Its warnings are about markup it drops ("discarding data: None"), which says nothing to whoever reads ours.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    extracted = trafilatura.extract(
        html, output_format="markdown", include_comments=False, include_tables=True, favor_recall=True
    )
    if not extracted or not extracted.strip():
        raise ArticleLoadError("no readable article text found in the page")
    metadata = trafilatura.extract_metadata(html)
    meta = {}
    if metadata is not None:
        meta = {"title": metadata.title, "url": metadata.url, "date": metadata.date}
    return extracted, {key: value for key, value in meta.items() if value}


def article_from_text(
    article_id: str, source: str, text: str, suffix: str, digest: str, url: str | None = None
) -> Article:
    """Build an Article from decoded text of the given kind (suffix such as '.md')."""
    fallback_title = collapse_whitespace(Path(article_id).stem.replace("_", " ").replace("-", " ")) or Path(article_id).name
    meta: dict = {}
    if suffix in (".html", ".htm"):
        try:
            text, meta = extract_html(text)
        except ArticleLoadError as error:
            raise ArticleLoadError(f"{article_id}: {error}") from None
        title, sections, front = parse_markdown(text, meta.get("title") or fallback_title)
        meta = {**meta, **front}
        if meta.get("title"):
            title = str(meta["title"])
    elif suffix in (".md", ".markdown"):
        title, sections, meta = parse_markdown(text, fallback_title)
    else:
        title, sections, meta = parse_plain_text(text, fallback_title)
    if not sections:
        raise ArticleLoadError(f"{article_id}: no text besides the title")
    date = meta.get("date")
    return Article(
        id=article_id,
        title=collapse_whitespace(title) or fallback_title,  # one line, never blank: it names the article everywhere
        source=source,
        text=text,
        sections=sections,
        content_hash=digest,
        url=url or (str(meta["url"]) if meta.get("url") else None),
        date=str(date) if date else None,
    )


def article_from_bytes(article_id: str, source: str, data: bytes, url: str | None = None) -> Article:
    """Check and parse a file's bytes; the kind comes from the id's extension."""
    suffix = Path(article_id).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ArticleLoadError(f"{article_id}: unsupported file type {suffix or '(none)'} (use {', '.join(SUPPORTED_SUFFIXES)})")
    text = decode_article_bytes(data, article_id)
    return article_from_text(article_id, source, text, suffix, content_hash(data), url=url)


def load_article(path: Path, root: Path | None = None, known: Mapping[str, Article] | None = None) -> Article:
    """Load one article file; ``root`` makes its id the path relative to the articles folder.

    An article in ``known`` with the same id and content hash is returned as it is, without parsing again."""
    return _load_article_file(path, path.relative_to(root).as_posix() if root else path.name, known)


def _load_article_file(path: Path, article_id: str, known: Mapping[str, Article] | None) -> Article:
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ArticleLoadError(f"{article_id}: unsupported file type {path.suffix.lower() or '(none)'}")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ArticleLoadError(f"{article_id}: cannot read ({error.strerror})") from None
    previous = known.get(article_id) if known else None
    if previous is not None and previous.content_hash == content_hash(data) and previous.source == str(path):
        return previous
    return article_from_bytes(article_id, str(path), data)


def _visible_files(folder: Path, prefix: str) -> Iterator[tuple[str, Path]]:
    """Every visible file below the folder with its path relative to the top folder (``prefix`` is this folder's),
    in the order of their paths compared part by part (as sorted Paths). One os.scandir per folder: its entries
    say what they are without a stat of each file.

    Hidden files and folders (their names start with a dot) are left out; linked files are read, linked folders
    are not followed (so a link cannot bring in a folder twice, or loop), and an unreadable folder is skipped.
    A link to nothing (or to itself) is listed, so that loading it says it cannot be read."""
    try:
        with os.scandir(folder) as scan:
            entries = sorted((entry for entry in scan if not entry.name.startswith(".")), key=lambda entry: entry.name)
    except PermissionError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from _visible_files(folder / entry.name, f"{prefix}{entry.name}/")  # its files sort where its name does
        elif entry.is_file(follow_symlinks=False) or (entry.is_symlink() and not _links_to_folder(entry)):
            yield prefix + entry.name, folder / entry.name


def _links_to_folder(link: os.DirEntry) -> bool:
    try:
        return link.is_dir()
    except OSError:  # a loop of links
        return False


def load_folder(folder: Path, known: Mapping[str, Article] | None = None) -> FolderLoad:
    """Load every article below ``folder``; unreadable files are skipped with a warning.

    Files whose content matches an article in ``known`` are not parsed again."""
    if not folder.is_dir():
        raise ArticlesFolderError(f"The articles folder {folder} does not exist.")
    loaded = FolderLoad()
    for article_id, path in _visible_files(folder, ""):
        try:
            loaded.articles.append(_load_article_file(path, article_id, known))
        except ArticleLoadError as error:
            logger.info("Skipped %s", error)  # (the caller reports them: FolderLoad.skipped)
            loaded.skipped.append((article_id, str(error)))
    return loaded
