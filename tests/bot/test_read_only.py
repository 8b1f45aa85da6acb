"""INDEX_READ_ONLY: a bot process that serves an index folder others share, and never builds or writes it."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from pathlib import Path

from botkit import TRUCE, embed_text
from test_server_collections import NO_ARTICLES_YET, two_servers

from bot.cli import main
from fakediscord import FakeAttachment
from index import ArticleIndex, refresh_from_folder

TIDES = "# Tides\n\nThe moon's gravity pulls on the oceans and causes the tides.\n"
TIDES_QUESTION = "What causes the tides?"
MOON = "moon's gravity"


def operator_builds(embedder, articles: Path, index_dir: Path) -> None:
    """What `article-bot index build` does, in another process: bring the saved index in line with the folder."""
    refresh_from_folder(ArticleIndex(embedder), articles, index_dir)


def folder_state(folder: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and folder below ``folder``."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


async def command(running, name: str, options: dict | None = None, subcommand: str | None = None):
    handle = await running.fake.send_slash_command(name, options or {}, subcommand=subcommand, user=running.fake.user)
    return await handle.wait_final(timeout=60)


async def test_serves_the_saved_index_as_it_is_and_never_writes_it(start_bot, embedder, sample_articles, tmp_path):
    index_dir = tmp_path / "index"
    operator_builds(embedder, sample_articles, index_dir)
    (sample_articles / "tides.md").write_text(TIDES)  # not built yet: a writing process would index it at start
    before = folder_state(index_dir)

    running = await start_bot(index_read_only=True)
    assert "Ismail Haniyeh" in embed_text(await running.ask(TRUCE))
    assert MOON not in embed_text(await running.ask(TIDES_QUESTION))
    reply = await command(running, "reload")
    assert "Index already up to date" in embed_text(reply) and "1 articles" in embed_text(reply)
    assert MOON not in embed_text(await running.ask(TIDES_QUESTION))
    await running.bot.close()
    assert folder_state(index_dir) == before


async def test_reload_loads_the_index_the_operator_built(start_bot, embedder, sample_articles, tmp_path, caplog):
    index_dir = tmp_path / "index"
    with caplog.at_level(logging.ERROR, logger="bot.service"):
        running = await start_bot(index_read_only=True)
    assert f"There is no saved index at {index_dir}" in caplog.text and "article-bot index build" in caplog.text
    assert not index_dir.exists()  # nothing was built

    failed = embed_text(await command(running, "reload"))
    assert "previous index is still serving" in failed and "article-bot index build" in failed

    (sample_articles / "tides.md").write_text(TIDES)
    operator_builds(embedder, sample_articles, index_dir)
    reply = embed_text(await command(running, "reload"))
    assert "Index reloaded" in reply and "tides.md" in reply and "2 articles" in reply
    assert MOON in embed_text(await running.ask(TIDES_QUESTION))

    (sample_articles / "tides.md").unlink()
    operator_builds(embedder, sample_articles, index_dir)
    reply = embed_text(await command(running, "reload"))
    assert "Removed" in reply and "tides.md" in reply
    assert MOON not in embed_text(await running.ask(TIDES_QUESTION))


async def test_articles_cannot_be_added_or_removed_from_discord(start_bot, embedder, sample_articles, tmp_path):
    index_dir = tmp_path / "index"
    operator_builds(embedder, sample_articles, index_dir)
    articles_before, index_before = folder_state(sample_articles), folder_state(index_dir)
    running = await start_bot(index_read_only=True)

    added = await command(running, "article", {"file": FakeAttachment("tides.md", TIDES.encode())}, subcommand="add")
    removed = await command(running, "article", {"article": "000_97ab4e9c0a6dbff7.txt"}, subcommand="remove")
    for reply in (added, removed):
        assert reply.ephemeral
        text = embed_text(reply)
        assert "can't be added or removed here" in text and "article-bot index build" in text
    assert folder_state(sample_articles) == articles_before and folder_state(index_dir) == index_before
    assert "Ismail Haniyeh" in embed_text(await running.ask(TRUCE))  # still serving


def test_the_command_line_asks_without_building_but_index_build_builds(monkeypatch, sample_articles, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("ARTICLES_DIR", str(sample_articles))
    monkeypatch.setenv("INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("INDEX_READ_ONLY", "true")
    assert main(["ask", TRUCE]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: There is no saved index at") and "article-bot index build" in err
    assert not (tmp_path / "index").exists()

    assert main(["index", "build"]) == 0  # the operator's command builds, read-only or not
    (sample_articles / "tides.md").write_text(TIDES)
    built = folder_state(tmp_path / "index")
    capsys.readouterr()
    assert main(["ask", "--json", TRUCE]) == 0
    assert json.loads(capsys.readouterr().out)["answered"] is True
    assert folder_state(tmp_path / "index") == built  # tides.md stays unindexed until the next build


async def test_a_new_build_is_loaded_without_a_reload(start_bot, embedder, sample_articles, tmp_path, caplog):
    index_dir = tmp_path / "index"
    operator_builds(embedder, sample_articles, index_dir)
    running = await start_bot(index_read_only=True, index_check_seconds=0.2)
    assert MOON not in embed_text(await running.ask(TIDES_QUESTION))

    (sample_articles / "tides.md").write_text(TIDES)
    operator_builds(embedder, sample_articles, index_dir)
    for _ in range(100):
        if "tides.md" in [a.id for a in running.bot.service.index.articles()]:
            break
        await asyncio.sleep(0.1)
    assert MOON in embed_text(await running.ask(TIDES_QUESTION))

    # A damaged new version is not loaded: the index serving stays, answers go on, and the log says why.
    current = (index_dir / "CURRENT").read_text().strip()
    damaged = index_dir / "v-99991231T000000-damaged"
    shutil.copytree(index_dir / current, damaged)
    (damaged / "manifest.json").write_text("{ not json")
    (index_dir / ".CURRENT.new").write_text(damaged.name)
    os.replace(index_dir / ".CURRENT.new", index_dir / "CURRENT")
    with caplog.at_level(logging.WARNING, logger="bot.service"):
        for _ in range(100):
            if "could not be loaded" in caplog.text:
                break
            await asyncio.sleep(0.1)
    assert "A new index was saved" in caplog.text and "could not be loaded" in caplog.text
    assert MOON in embed_text(await running.ask(TIDES_QUESTION))


async def test_server_members_are_told_the_operator_builds_the_index(fake_discord, start_bot, tmp_path):
    servers = await two_servers(fake_discord, start_bot, tmp_path, index_read_only=True)
    for text in (await servers.ask(servers.alpha, TIDES_QUESTION), embed_text(await servers.command(servers.alpha, "sources"))):
        assert NO_ARTICLES_YET in text and "operator" in text and "/article add" not in text  # which is refused here
    assert not (tmp_path / "servers" / str(servers.alpha.id)).exists()  # nothing written (the mount may be read-only)

    failed = embed_text(await servers.command(servers.alpha, "reload"))
    assert "previous index is still serving" in failed and "article-bot index build" in failed
    assert f"SERVER_COLLECTIONS_DIR/{servers.alpha.id}/index" in failed and str(tmp_path) not in failed
