"""Moderators adding, removing and showing articles from Discord; watch mode."""
from __future__ import annotations

import asyncio
import shutil

import pytest
from aiohttp import web
from botkit import TRUCE, embed_text

from bot.articles import ArticleRejected, _address_allowed, safe_file_name
from fakediscord import FakeAttachment
from index import ArticleIndex, IndexStoreError

TIDES = b"# Tides\n\nThe moon's gravity pulls on the oceans and causes the tides.\n"
CHANGED_TIDES = b"# Tides\n\nTides come from the moon and, to a lesser degree, the sun.\n"
TIDES_QUESTION = "What causes the tides?"
SAMPLE = "000_97ab4e9c0a6dbff7.txt"  # the sample folder's one article


async def article_command(running, sub: str, options: dict, user=None, **forged):
    handle = await running.fake.send_slash_command("article", options, subcommand=sub, user=user or running.fake.user, **forged)
    return await handle.wait_final(timeout=60)


def folder_state(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


async def test_uploaded_article_becomes_answerable_and_removed_one_stops_being_quoted(start_bot, sample_articles):
    running = await start_bot()
    reply = await article_command(running, "add", {"file": FakeAttachment("tides.md", TIDES, "text/markdown")})
    assert reply.ephemeral and "Added tides.md" in embed_text(reply)
    assert (sample_articles / "tides.md").read_bytes() == TIDES
    assert "moon's gravity" in embed_text(await running.ask("What causes the tides?"))

    handle = await running.fake.send_autocomplete("article", {"article": "tid"}, focused="article", subcommand="remove")
    assert await handle.wait_choices(timeout=30) == [{"name": "Tides", "value": "tides.md"}]
    shown = await article_command(running, "show", {"article": "tides.md"})
    assert "1 sections, 1 passages" in embed_text(shown) and "Tides" in embed_text(shown)

    reply = await article_command(running, "remove", {"article": "tides.md"})
    assert "Removed tides.md" in str(reply.embeds[0].get("author")) and not (sample_articles / "tides.md").exists()
    assert "moon's gravity" not in embed_text(await running.ask("What causes the tides?"))


async def test_changed_article_quotes_its_new_text(start_bot, sample_articles):
    running = await start_bot()
    await article_command(running, "add", {"file": FakeAttachment("tides.md", TIDES)})
    changed = b"# Tides\n\nTides come from the moon and, to a lesser degree, the sun.\n"
    refused = await article_command(running, "add", {"file": FakeAttachment("tides.md", changed)})
    assert "already saved as tides.md" in embed_text(refused)
    assert (sample_articles / "tides.md").read_bytes() == TIDES
    replaced = await article_command(running, "add", {"file": FakeAttachment("tides.md", changed), "replace": True})
    assert "Replaced tides.md" in embed_text(replaced)
    assert "lesser degree, the sun" in embed_text(await running.ask("What causes the tides?"))


@pytest.mark.parametrize(
    ("attachment", "message"),
    [
        (FakeAttachment("My Notes (draft).txt", b"Title\n\nText."), None),  # renamed safely, see below
        (FakeAttachment("README", TIDES), "not an allowed article file name"),
        (FakeAttachment("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00"), "not an allowed article file name"),
        (FakeAttachment("binary.txt", b"Title\x00\x01\x02"), "binary"),
        (FakeAttachment("latin.txt", "Caf\u00e9\n\nBody.".encode("latin-1")), "UTF-8"),
        (FakeAttachment("huge.txt", b"Huge\n\n" + b"words " * 400_000), "limit"),
    ],
)
async def test_bad_uploads_are_refused_and_nothing_changes(start_bot, sample_articles, attachment, message):
    running = await start_bot()
    before = folder_state(sample_articles)
    reply = await article_command(running, "add", {"file": attachment})
    if message is None:
        # Unsafe characters are replaced (path tricks are covered by test_safe_file_names).
        assert "Added My-Notes-draft.txt" in embed_text(reply)
        assert (sample_articles / "My-Notes-draft.txt").exists()
        return
    assert reply.ephemeral and message in embed_text(reply)
    assert folder_state(sample_articles) == before
    assert len(running.bot.service.index.articles()) == 1


async def test_non_moderators_are_refused_every_article_command(start_bot, sample_articles):
    running = await start_bot()
    carol = running.fake.add_user("carol")
    running.fake.add_member(running.fake.guild, carol)
    before = folder_state(sample_articles)
    for sub, options in (
        ("add", {"file": FakeAttachment("tides.md", TIDES)}),
        ("remove", {"article": "000_97ab4e9c0a6dbff7.txt"}),
        ("show", {"article": "000_97ab4e9c0a6dbff7.txt"}),
    ):
        with pytest.raises(PermissionError):  # Discord offers /article only to members with Manage Server
            await article_command(running, sub, options, user=carol)
        reply = await article_command(running, sub, options, user=carol, member_permissions="0")
        assert reply.ephemeral and "Only moderators" in embed_text(reply)
    assert folder_state(sample_articles) == before


@pytest.fixture
async def web_page():
    """A local web server with an article page and a redirect to it."""
    page = (
        "<html><head><title>Moon Facts</title></head><body><nav>Home | Shop</nav><article><h1>Moon Facts</h1>"
        "<p>The Moon is Earth's only natural satellite and is about 384,400 km away.</p>"
        "<h2>Orbit</h2><p>The Moon orbits Earth once every 27.3 days, always showing the same face.</p>"
        "</article></body></html>"
    )

    async def article(_):
        return web.Response(text=page, content_type="text/html")

    async def redirect(_):
        raise web.HTTPFound("/moon")

    def html(title: str, text: str):
        async def serve(_):
            return web.Response(text=f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1><p>{text}</p></article></body></html>", content_type="text/html")
        return serve

    async def markdown(_):
        guide = "# Widget Guide\n\n## Setup\n\nInstall the widget by turning the blue knob.\n\n## Usage\n\nPress the red button to start.\n"
        return web.Response(text=guide, content_type="text/markdown")

    async def latin_text(_):
        notes = "Caf\u00e9 notes\n\nThe caf\u00e9 on the corner opens at seven o'clock every morning.\n"
        return web.Response(body=notes.encode("latin-1"), headers={"Content-Type": "text/plain; charset=iso-8859-1"})

    app = web.Application()
    app.router.add_get("/moon", article)
    app.router.add_get("/go", redirect)
    app.router.add_get("/a/index.html", html("Alpha", "Alpha page says the sky is green on Tuesdays in the valley."))
    app.router.add_get("/b/index.html", html("Beta", "Beta page says the river runs uphill in springtime near the hills."))
    app.router.add_get("/guide.md", markdown)
    app.router.add_get("/notes", latin_text)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_url_article_is_fetched_extracted_and_linked(start_bot, web_page):
    running = await start_bot(allow_private_urls=True)  # the test page lives on loopback
    reply = await article_command(running, "add", {"url": f"{web_page}/go"})
    assert "Added" in embed_text(reply)
    answer = await running.ask("How often does the Moon orbit Earth?")
    text = embed_text(answer)
    assert "27.3 days" in text and f"({web_page}/moon)" in text  # linked to the page it came from
    assert "Shop" not in text


async def test_pages_whose_links_end_alike_are_two_articles(start_bot, sample_articles, web_page):
    running = await start_bot(allow_private_urls=True)
    assert "Added" in embed_text(await article_command(running, "add", {"url": f"{web_page}/a/index.html"}))
    assert "Added" in embed_text(await article_command(running, "add", {"url": f"{web_page}/b/index.html"}))
    # Adding a page again saves it again under its own name; it never replaces the other page.
    again = await article_command(running, "add", {"url": f"{web_page}/b/index.html", "replace": True})
    assert "Replaced" in embed_text(again)
    assert len([p for p in sample_articles.iterdir() if p.name.startswith("127.0.0.1-index")]) == 2
    assert "sky is green" in embed_text(await running.ask("What colour is the sky on Tuesdays?"))
    assert "river runs uphill" in embed_text(await running.ask("Which way does the river run in springtime?"))


async def test_markdown_and_plain_text_links_are_saved_as_they_are_with_their_link(start_bot, sample_articles, web_page):
    running = await start_bot(allow_private_urls=True)
    reply = await article_command(running, "add", {"url": f"{web_page}/guide.md"})
    assert "Added" in embed_text(reply) and "Widget Guide" in embed_text(reply) and "Setup" in embed_text(reply)
    answer = embed_text(await running.ask("How do I install the widget?"))
    assert "blue knob" in answer and f"({web_page}/guide.md)" in answer  # linked to where it came from

    # Text in the charset its Content-Type declares (Latin-1 here), not mistaken for UTF-8 or for HTML.
    reply = await article_command(running, "add", {"url": f"{web_page}/notes"})
    assert "Added" in embed_text(reply) and "Caf\u00e9 notes" in embed_text(reply)
    answer = embed_text(await running.ask("When does the caf\u00e9 open?"))
    assert "The caf\u00e9 on the corner opens at seven" in answer and f"({web_page}/notes)" in answer


async def test_removing_the_last_article_empties_the_collection(start_bot, sample_articles):
    running = await start_bot()
    reply = await article_command(running, "remove", {"article": SAMPLE})
    assert f"Removed {SAMPLE}" in str(reply.embeds[0].get("author")) and "No articles are left" in embed_text(reply)
    assert not (sample_articles / SAMPLE).exists()
    assert "Haniyeh" not in embed_text(await running.ask(TRUCE))
    sources = await (await running.fake.send_slash_command("sources", {})).wait_final(timeout=30)
    assert "No articles are indexed yet" in embed_text(sources)

    assert "Added tides.md" in embed_text(await article_command(running, "add", {"file": FakeAttachment("tides.md", TIDES)}))
    assert "moon's gravity" in embed_text(await running.ask(TIDES_QUESTION))


async def test_an_article_whose_file_is_already_gone_is_removed_from_the_index(start_bot, sample_articles):
    running = await start_bot()
    await article_command(running, "add", {"file": FakeAttachment("tides.md", TIDES)})
    (sample_articles / "tides.md").unlink()  # say, by hand, with no reload since
    reply = await article_command(running, "remove", {"article": "tides.md"})
    assert "Removed tides.md" in str(reply.embeds[0].get("author")) and "already gone" in embed_text(reply)
    assert "moon's gravity" not in embed_text(await running.ask(TIDES_QUESTION))


async def test_remove_needs_the_exact_name_not_a_prefix(start_bot, sample_articles):
    running = await start_bot()
    await article_command(running, "add", {"file": FakeAttachment("tides.md", TIDES)})
    refused = await article_command(running, "remove", {"article": "t"})
    assert refused.ephemeral and "exact" in embed_text(refused) and "tides.md" in embed_text(refused)
    assert (sample_articles / "tides.md").exists()
    assert "moon's gravity" in embed_text(await running.ask(TIDES_QUESTION))

    reply = await article_command(running, "remove", {"article": "Tides"})  # its whole title will do
    assert "Removed tides.md" in str(reply.embeds[0].get("author")) and not (sample_articles / "tides.md").exists()


def embedding_fails(self, articles):
    raise RuntimeError("embedding crashed")


async def test_an_add_that_cannot_be_indexed_leaves_the_folder_as_it_was(start_bot, sample_articles, monkeypatch):
    running = await start_bot()
    before = folder_state(sample_articles)
    monkeypatch.setattr(ArticleIndex, "_embed_articles", embedding_fails)
    reply = await article_command(running, "add", {"file": FakeAttachment("tides.md", TIDES)})
    assert reply.ephemeral and "tides.md was not added" in embed_text(reply) and "RuntimeError" in embed_text(reply)
    assert folder_state(sample_articles) == before  # no file left behind that nobody can see or remove
    monkeypatch.undo()

    await article_command(running, "add", {"file": FakeAttachment("tides.md", TIDES)})
    monkeypatch.setattr(ArticleIndex, "_embed_articles", embedding_fails)
    reply = await article_command(running, "add", {"file": FakeAttachment("tides.md", CHANGED_TIDES), "replace": True})
    assert "tides.md was not replaced" in embed_text(reply)
    assert (sample_articles / "tides.md").read_bytes() == TIDES  # the text it was to replace is not lost
    assert "moon's gravity" in embed_text(await running.ask(TIDES_QUESTION))


async def test_an_add_whose_index_cannot_be_saved_is_undone(start_bot, sample_articles, monkeypatch):
    running = await start_bot()
    before = folder_state(sample_articles)
    save = ArticleIndex.save
    failures = []

    def save_fails_once(self, index_dir):
        if not failures:
            failures.append(index_dir)
            raise IndexStoreError("The index folder cannot be written (disk full).")
        save(self, index_dir)

    monkeypatch.setattr(ArticleIndex, "save", save_fails_once)
    reply = await article_command(running, "add", {"file": FakeAttachment("tides.md", TIDES)})
    assert "tides.md was not added" in embed_text(reply) and "disk full" in embed_text(reply)
    assert folder_state(sample_articles) == before
    assert "moon's gravity" not in embed_text(await running.ask(TIDES_QUESTION))  # not quoted either


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://localhost:9/x", "http://10.1.2.3/x", "http://169.254.169.254/latest", "file:///etc/passwd"])
async def test_private_and_local_urls_are_refused(start_bot, sample_articles, url):
    running = await start_bot()
    before = folder_state(sample_articles)
    reply = await article_command(running, "add", {"url": url})
    assert reply.ephemeral
    assert "not allowed" in embed_text(reply) or "Only http" in embed_text(reply)
    assert folder_state(sample_articles) == before


async def test_watch_mode_picks_up_a_new_file(start_bot, sample_articles):
    running = await start_bot(watch_articles=True)
    await asyncio.sleep(0.5)  # let the watcher start
    (sample_articles / "tides.md").write_bytes(TIDES)
    for _ in range(60):
        if any(a.id == "tides.md" for a in running.bot.service.index.articles()):
            break
        await asyncio.sleep(0.25)
    assert "moon's gravity" in embed_text(await running.ask("What causes the tides?"))
    assert "Ismail Haniyeh" in embed_text(await running.ask(TRUCE))


async def test_watch_mode_goes_on_after_the_articles_folder_is_replaced(start_bot, sample_articles):
    running = await start_bot(watch_articles=True)
    await asyncio.sleep(0.5)  # let the watcher start
    kept = sample_articles.parent / "kept"
    shutil.copytree(sample_articles, kept)
    shutil.rmtree(sample_articles)  # a deploy replacing the folder: removed, then made anew with a new article
    await asyncio.sleep(2.0)
    (kept / "tides.md").write_bytes(TIDES)
    shutil.copytree(kept, sample_articles)
    await asyncio.sleep(3.0)  # the watch starts again once the folder is back, and reloads what it holds
    (sample_articles / "bees.md").write_text("# Bees\n\nBees dance to tell each other where the flowers are.\n")
    for _ in range(60):
        if {"tides.md", "bees.md"} <= {a.id for a in running.bot.service.index.articles()}:
            break
        await asyncio.sleep(0.25)
    assert "moon's gravity" in embed_text(await running.ask("What causes the tides?"))
    assert "Bees dance" in embed_text(await running.ask("Why do bees dance?"))


def test_safe_file_names():
    assert safe_file_name("My Notes (v2).md") == "My-Notes-v2.md"
    assert safe_file_name("..\\..\\evil.TXT") == "evil.txt"
    assert safe_file_name("../../etc/passwd.txt") == "passwd.txt"
    assert safe_file_name(".hidden.md") == "hidden.md"  # never a hidden file the loader would skip
    for bad in ("noext", ".md", "x.exe", "../.."):
        with pytest.raises(ArticleRejected):
            safe_file_name(bad)


def test_address_guard():
    assert _address_allowed("93.184.216.34", False)
    for address in ("127.0.0.1", "10.0.0.1", "192.168.1.1", "172.16.0.1", "169.254.169.254", "::1", "fe80::1", "fc00::1"):
        assert not _address_allowed(address, False), address
    assert _address_allowed("127.0.0.1", True)
    assert not _address_allowed("169.254.169.254", True)  # link-local (cloud metadata) never
