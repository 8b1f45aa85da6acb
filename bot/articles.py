"""Adding and removing articles from Discord: checked uploads, guarded URL fetches, safe file names.

Nothing is written to the articles folder until the article has been read and parsed successfully, a
different article is never silently overwritten, and a save can be undone (when indexing it fails)."""
from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
import socket
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import aiohttp
import yaml

from index import Article, ArticleIndex, ArticleIndexError
from index.collection import listed_names
from index.errors import AmbiguousArticle, UnknownArticle
from index.files import write_atomically
from index.loaders import SUPPORTED_SUFFIXES, article_from_bytes, extract_html, parse_markdown

logger = logging.getLogger(__name__)

MAX_NAME_LENGTH = 100
MAX_REDIRECTS = 5
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
# What a link may serve: web pages, whose main text is extracted, and text files, saved as they are.
HTML_KINDS = ("text/html", "application/xhtml+xml")
TEXT_KINDS = {"text/plain": ".txt", "text/markdown": ".md"}
MARKDOWN_URL_SUFFIXES = (".md", ".markdown")  # served as text/plain by many hosts


class ArticleRejected(ArticleIndexError):
    """An upload or URL that cannot become an article; the message says why."""


@dataclass(frozen=True, slots=True)
class SavedArticle:
    article: Article
    path: Path
    previous: bytes | None  # the bytes it replaced; None if the file is new

    @property
    def replaced(self) -> bool:
        return self.previous is not None


def safe_file_name(name: str) -> str:
    """A plain file name for the articles folder: no folders, no hidden files, only safe characters."""
    base = unicodedata.normalize("NFKC", name).replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = _SAFE_NAME.sub("-", stem).strip("-._")
    suffix = suffix.lower()
    if not stem or f".{suffix}" not in SUPPORTED_SUFFIXES:
        allowed = ", ".join(SUPPORTED_SUFFIXES)
        raise ArticleRejected(f"{name!r} is not an allowed article file name (a name ending in {allowed}).")
    return f"{stem[: MAX_NAME_LENGTH - len(suffix) - 1]}.{suffix}"


def save_article(
    articles_dir: Path,
    file_name: str,
    data: bytes,
    max_bytes: int,
    replace: bool = False,
    *,
    taken_advice: str = "choose another name or set replace",
) -> SavedArticle:
    """Check an uploaded file and save it into the articles folder; ArticleRejected says why not (with
    ``taken_advice`` when a different article has the name). ``undo_save`` puts the folder back as it was."""
    name = safe_file_name(file_name)
    if len(data) > max_bytes:
        raise ArticleRejected(f"{name} is {len(data) / 1024:.0f} KiB; the limit is {max_bytes / 1024:.0f} KiB.")
    path = articles_dir / name
    try:
        article = article_from_bytes(name, str(path), data)
    except ArticleIndexError as error:
        raise ArticleRejected(str(error)) from None
    previous = path.read_bytes() if path.is_file() else None
    if previous is not None and previous != data and not replace:
        raise ArticleRejected(f"A different article is already saved as {name}; {taken_advice}.")
    articles_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(path, data)
    return SavedArticle(article, path, previous)


def undo_save(saved: SavedArticle) -> None:
    """Put the folder back as it was before ``save_article``: the new file gone, or the replaced bytes back."""
    if saved.previous is None:
        saved.path.unlink(missing_ok=True)
    else:
        write_atomically(saved.path, saved.previous)


def article_to_remove(index: ArticleIndex, name: str) -> str:
    """The id of the article named exactly by its id, file name or title (case-insensitive), as autocomplete
    sends it. Unlike ``ArticleIndex.find_article`` no prefix will do: a removal must not guess. UnknownArticle
    names the candidates when the name fits none exactly (AmbiguousArticle: several)."""
    try:
        return index.find_article(name, prefix=False)
    except AmbiguousArticle:
        raise
    except UnknownArticle:
        similar = [a.id for a in index.matching_articles(name, limit=6)] if name.strip() else []
        if not similar:
            raise
    raise UnknownArticle(
        f"No article is called exactly {name!r}, and removing needs its exact file name or title "
        f"(pick it from the list). Did you mean: {listed_names(similar)}?"
    )


def remove_article_file(articles_dir: Path, article_id: str) -> bool:
    """Delete an article's file, refusing anything outside the articles folder; False if it was already gone."""
    root = articles_dir.resolve()
    path = (root / article_id).resolve()
    if root not in path.parents or (path.exists() and not path.is_file()):
        raise ArticleRejected(f"{article_id!r} is not an article file in the articles folder.")
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


# -- fetching articles from the web ---------------------------------------------------------------

def _address_allowed(address: str, allow_private: bool) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.is_loopback and allow_private:
        return True
    if allow_private and ip.is_private and not ip.is_link_local:
        return True
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local)


class GuardedResolver(aiohttp.abc.AbstractResolver):
    """Resolves host names and drops loopback, private and link-local addresses (unless allowed), so a
    URL cannot reach services inside the bot's network, however its name resolves."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self.allow_private = allow_private

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        answers = await self._inner.resolve(host, port, family)
        allowed = [a for a in answers if _address_allowed(a["host"], self.allow_private)]
        if not allowed:
            raise ArticleRejected(f"{host} is a private or local address; fetching it is not allowed.")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def _check_url(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ArticleRejected("Only http:// and https:// links to web pages can be added.")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return  # a name: checked when it is resolved
    if not _address_allowed(str(literal), allow_private):
        raise ArticleRejected(f"{parts.hostname} is a private or local address; fetching it is not allowed.")


@dataclass(frozen=True, slots=True)
class FetchedPage:
    url: str  # after redirects
    body: bytes
    kind: str  # the media type from Content-Type, lower case; "" if none was given
    charset: str | None  # as declared in Content-Type


async def fetch_page(url: str, *, max_bytes: int, timeout: float, allow_private: bool) -> FetchedPage:
    """Download a web page or text file (following a few redirects, each checked)."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_private), use_dns_cache=False)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    headers = {
        "User-Agent": "article-bot (a Discord bot that quotes articles)",
        "Accept": "text/html,application/xhtml+xml,text/markdown;q=0.9,text/plain;q=0.9",
    }
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout, headers=headers) as session:
        for _ in range(MAX_REDIRECTS + 1):
            _check_url(url, allow_private)
            try:
                async with session.get(url, allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                        url = urljoin(url, response.headers["Location"])
                        continue
                    if response.status != 200:
                        raise ArticleRejected(f"The page answered HTTP {response.status}.")
                    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
                    if kind and kind not in (*HTML_KINDS, *TEXT_KINDS):
                        raise ArticleRejected(f"The link is not a web page ({kind}).")
                    body = bytearray()
                    async for chunk in response.content.iter_chunked(64 * 1024):
                        body += chunk
                        if len(body) > max_bytes:
                            raise ArticleRejected(f"The page is larger than {max_bytes // 1024} KiB.")
                    return FetchedPage(url, bytes(body), kind, response.charset)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
                raise ArticleRejected(f"Could not fetch the page ({type(error).__name__}).") from None
        raise ArticleRejected("The link redirects too many times.")


def page_text(page: FetchedPage) -> str:
    """The page's text: decoded with the charset it declares, else as UTF-8, else as Latin-1 (which reads any
    bytes: better a few odd characters than no article)."""
    charsets = [page.charset] if page.charset else []
    for charset in (*charsets, "utf-8-sig", "latin-1"):
        try:
            return page.body.decode(charset)
        except LookupError:
            logger.info("%s declares an unknown charset %r; trying UTF-8", page.url, charset)
        except UnicodeDecodeError:
            pass
    raise AssertionError("Latin-1 decodes any bytes")


def page_as_article(page: FetchedPage) -> tuple[str, bytes]:
    """The article to save for a fetched page: (file name, UTF-8 bytes). A web page becomes Markdown of its
    main text with its title and link in front matter; a Markdown or plain-text file is kept as it is, with its
    link in front matter unless it has front matter of its own (a plain-text one's title stays its first line)."""
    parts = urlsplit(page.url)
    slug = parts.path.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    text = page_text(page)
    if page.kind in TEXT_KINDS:
        markdown = page.kind == "text/markdown" or parts.path.lower().endswith(MARKDOWN_URL_SUFFIXES)
        suffix = ".md" if markdown else ".txt"
        if not text.startswith("---\n"):
            titled = not markdown or parse_markdown(text, "")[0]
            front = {"url": page.url} if titled else {"title": slug or parts.hostname, "url": page.url}
            text = f"---\n{yaml.safe_dump(front, allow_unicode=True, sort_keys=False)}---\n{text}"
        return page_file_name(page.url, suffix), text.encode("utf-8")
    try:
        body, meta = extract_html(text)
    except ArticleIndexError as error:
        raise ArticleRejected(str(error)) from None
    front = {"title": meta.get("title") or slug or parts.hostname, "url": page.url}
    if meta.get("date"):
        front["date"] = str(meta["date"])
    text = f"---\n{yaml.safe_dump(front, allow_unicode=True, sort_keys=False)}---\n{body}\n"
    return page_file_name(page.url, ".md"), text.encode("utf-8")


def page_file_name(url: str, suffix: str) -> str:
    """A readable file name from the link's host and last path part, made the link's own by a short hash of
    the whole link: /a/index.html and /b/index.html are different pages, and must not share a file."""
    parts = urlsplit(url)
    slug = parts.path.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    readable = _SAFE_NAME.sub("-", "-".join(filter(None, (parts.hostname, slug)))).strip("-._")[:60] or "page"
    digest = hashlib.sha256(parts._replace(fragment="").geturl().encode("utf-8")).hexdigest()[:8]
    return safe_file_name(f"{readable}-{digest}{suffix}")
