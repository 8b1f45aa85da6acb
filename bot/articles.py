"""Adding and removing articles from Discord: checked uploads, guarded URL fetches, safe file names.

Nothing is written to the articles folder until the article has been read and parsed successfully, and a
different article is never silently overwritten."""
from __future__ import annotations

import asyncio
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

from index import Article, ArticleIndexError
from index.files import write_atomically
from index.loaders import SUPPORTED_SUFFIXES, article_from_bytes, extract_html

logger = logging.getLogger(__name__)

MAX_NAME_LENGTH = 100
MAX_REDIRECTS = 5
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class ArticleRejected(ArticleIndexError):
    """An upload or URL that cannot become an article; the message says why."""


@dataclass(frozen=True, slots=True)
class SavedArticle:
    article: Article
    path: Path
    replaced: bool


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


def save_article(articles_dir: Path, file_name: str, data: bytes, max_bytes: int, replace: bool = False) -> SavedArticle:
    """Check an uploaded file and save it into the articles folder; ArticleRejected says why not."""
    name = safe_file_name(file_name)
    if len(data) > max_bytes:
        raise ArticleRejected(f"{name} is {len(data) / 1024:.0f} KiB; the limit is {max_bytes / 1024:.0f} KiB.")
    path = articles_dir / name
    try:
        article = article_from_bytes(name, str(path), data)
    except ArticleIndexError as error:
        raise ArticleRejected(str(error)) from None
    exists = path.exists()
    if exists and path.read_bytes() != data and not replace:
        raise ArticleRejected(f"A different article is already saved as {name}; choose another name or set replace.")
    articles_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(path, data)
    return SavedArticle(article, path, exists)


def remove_article_file(articles_dir: Path, article_id: str) -> Path:
    """Delete an article's file, refusing anything outside the articles folder."""
    root = articles_dir.resolve()
    path = (root / article_id).resolve()
    if root not in path.parents or not path.is_file():
        raise ArticleRejected(f"No article file {article_id!r} in the articles folder.")
    path.unlink()
    return path


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


async def fetch_page(url: str, *, max_bytes: int, timeout: float, allow_private: bool) -> tuple[str, bytes]:
    """Download a web page (following a few redirects, each checked); returns the final URL and its bytes."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_private), use_dns_cache=False)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    headers = {"User-Agent": "article-bot (a Discord bot that quotes articles)", "Accept": "text/html,text/plain;q=0.9"}
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
                    if kind and kind not in ("text/html", "application/xhtml+xml", "text/plain", "text/markdown"):
                        raise ArticleRejected(f"The link is not a web page ({kind}).")
                    body = bytearray()
                    async for chunk in response.content.iter_chunked(64 * 1024):
                        body += chunk
                        if len(body) > max_bytes:
                            raise ArticleRejected(f"The page is larger than {max_bytes // 1024} KiB.")
                    return url, bytes(body)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
                raise ArticleRejected(f"Could not fetch the page ({type(error).__name__}).") from None
        raise ArticleRejected("The link redirects too many times.")


def page_as_markdown(url: str, page: bytes) -> tuple[str, bytes]:
    """The page's main text as a Markdown article with its title and link in front matter: (file name, bytes)."""
    try:
        html = page.decode("utf-8")
    except UnicodeDecodeError:
        html = page.decode("latin-1")
    try:
        body, meta = extract_html(html)
    except ArticleIndexError as error:
        raise ArticleRejected(str(error)) from None
    parts = urlsplit(url)
    slug = (parts.path.rstrip("/").rsplit("/", 1)[-1] or parts.hostname or "page").rsplit(".", 1)[0]
    front = {"title": meta.get("title") or slug, "url": url}
    if meta.get("date"):
        front["date"] = str(meta["date"])
    text = f"---\n{yaml.safe_dump(front, allow_unicode=True, sort_keys=False)}---\n{body}\n"
    return safe_file_name(f"{parts.hostname}-{slug}.md"), text.encode("utf-8")
